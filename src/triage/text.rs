//! Separating what the sender wrote now from quoted history and signatures.

/// A message body cut into what is new, the signature, and the quoted history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextParts {
    pub new_text: String,
    pub signature: String,
    pub quoted: String,
}

/// Endings of attribution lines ("On Mon, ... wrote:") in the languages we serve.
/// Compared against the lowercased line with trailing white space removed.
const ATTRIBUTION_ENDINGS: &[&str] = &[
    "wrote:",
    "writes:",
    "schrieb:",
    "a écrit :",
    "a écrit:",
    "escribió:",
    "escreveu:",
    "ha scritto:",
    "scrisse:",
    "schreef:",
    "skrev:",
    "kirjoitti:",
    "napisał:",
    "napisała:",
    "napisał(a):",
    "pisze:",
    "написал:",
    "написала:",
    "написал(а):",
    "пише:",
    "писал:",
    "yazdı:",
    "a scris:",
    "írta:",
    "napsal:",
    "napsala:",
    "napísal:",
    "έγραψε:",
    "写道：",
    "写道:",
    "寫道：",
    "寫道:",
    "님이 작성:",
    "작성:",
    "كتب:",
    "כתב:",
    "כתבה:",
    "ने लिखा:",
    "menulis:",
    "đã viết:",
    "เขียนว่า:",
    "نوشت:",
    "va escriure:",
    "je napisal:",
    "je napisao:",
    "написа:",
];

/// Lines that start a forwarded or Outlook-quoted block.
const SEPARATOR_STARTS: &[&str] = &[
    "-----original message-----",
    "----- original message -----",
    "-----ursprüngliche nachricht-----",
    "-----message d'origine-----",
    "-----mensaje original-----",
    "-----mensagem original-----",
    "-----messaggio originale-----",
    "-----oorspronkelijk bericht-----",
    "-----ursprungligt meddelande-----",
    "-----wiadomość oryginalna-----",
    "-----исходное сообщение-----",
    "________________________________",
    "---------- forwarded message",
    "---------- weitergeleitete nachricht",
    "begin forwarded message",
];

/// Header names that open an Outlook-style quoted block (`From:` then `Sent:` or `Date:`).
const OUTLOOK_FROM: &[&str] = &[
    "from:",
    "von:",
    "de :",
    "de:",
    "da:",
    "van:",
    "från:",
    "fra:",
    "od:",
    "от:",
    "від:",
    "kimden:",
    "発信者:",
    "差出人:",
    "发件人:",
    "寄件者:",
    "보낸 사람:",
    "من:",
];
const OUTLOOK_SENT: &[&str] = &[
    "sent:",
    "date:",
    "gesendet:",
    "datum:",
    "envoyé :",
    "envoyé:",
    "date :",
    "enviado:",
    "enviado el:",
    "inviato:",
    "data:",
    "verzonden:",
    "skickat:",
    "sendt:",
    "wysłano:",
    "отправлено:",
    "надіслано:",
    "gönderildi:",
    "tarih:",
    "送信日時:",
    "发送时间:",
    "寄件日期:",
    "보낸 날짜:",
    "التاريخ:",
    "تاريخ الإرسال:",
];

/// Phone-mailer footers that are not part of the message.
const MOBILE_FOOTERS: &[&str] = &[
    "sent from my iphone",
    "sent from my ipad",
    "sent from my android",
    "sent from outlook",
    "von meinem iphone gesendet",
    "envoyé de mon iphone",
    "enviado desde mi iphone",
    "enviado do meu iphone",
    "inviato da iphone",
    "verzonden vanaf mijn iphone",
    "skickat från min iphone",
    "wysłane z mojego iphone",
    "отправлено с iphone",
    "iphoneから送信",
    "发自我的iphone",
    "나의 iphone에서 보냄",
];

/// Splits a plain-text body into the new text, the signature and the quoted history.
pub fn split_new_text(body: &str) -> TextParts {
    let normalised = body.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalised.split('\n').collect();

    let mut history_start = lines.len();
    for (index, line) in lines.iter().enumerate() {
        if starts_history(&lines, index, line) {
            history_start = index;
            break;
        }
    }

    let mut new_lines = Vec::new();
    let mut quoted_lines = Vec::new();
    let mut signature_lines = Vec::new();
    let mut in_signature = false;
    for line in &lines[..history_start] {
        let trimmed = line.trim_start();
        if trimmed.starts_with('>') {
            quoted_lines.push(*line);
            continue;
        }
        if *line == "-- " || *line == "--" || *line == "—" {
            in_signature = true;
            continue;
        }
        let lower = line.trim().to_lowercase();
        if MOBILE_FOOTERS
            .iter()
            .any(|footer| lower.starts_with(footer))
        {
            continue;
        }
        if in_signature {
            signature_lines.push(*line);
        } else {
            new_lines.push(*line);
        }
    }
    quoted_lines.extend(&lines[history_start..]);

    TextParts {
        new_text: tidy(&new_lines),
        signature: tidy(&signature_lines),
        quoted: tidy(&quoted_lines),
    }
}

fn starts_history(lines: &[&str], index: usize, line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    if lower.is_empty() {
        return false;
    }
    if SEPARATOR_STARTS
        .iter()
        .any(|start| lower.starts_with(start))
    {
        return true;
    }
    // An attribution line, possibly wrapped over two lines, followed by quoted text.
    // Only a line that looks like the start of one ("On 2 Nov 2026, Name <a@b>") is joined.
    let looks_like_attribution_start = (lower.contains('@')
        || lower.chars().any(|c| c.is_ascii_digit()))
        && !lower.ends_with(['.', '!', '?', '。', '！', '？']);
    let joined_with_next = match lines.get(index + 1) {
        Some(next) if looks_like_attribution_start => {
            format!("{lower} {}", next.trim().to_lowercase())
        }
        _ => lower.clone(),
    };
    let followed_by_quote = lines[index + 1..]
        .iter()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start().starts_with('>'));
    for candidate in [&lower, &joined_with_next] {
        if ATTRIBUTION_ENDINGS
            .iter()
            .any(|ending| candidate.ends_with(ending))
        {
            return true;
        }
        // "2026年11月3日 10:12 山田 <x@y>:" and the like: an address in brackets, a colon at the end.
        if followed_by_quote
            && candidate.ends_with(':')
            && candidate.contains('@')
            && candidate.contains('<')
        {
            return true;
        }
    }
    // Outlook: "From: ..." with "Sent: ..." or "Date: ..." within the next three lines.
    if OUTLOOK_FROM.iter().any(|from| lower.starts_with(from)) {
        return lines[index + 1..].iter().take(3).any(|next| {
            let next = next.trim().to_lowercase();
            OUTLOOK_SENT.iter().any(|sent| next.starts_with(sent))
        });
    }
    false
}

fn tidy(lines: &[&str]) -> String {
    let text = lines.join("\n");
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_quoted_history_in_many_languages() {
        let cases = [
            ("Thanks a lot!\n\nOn Mon, 2 Nov 2026 at 10:00, Help <help@x.org> wrote:\n> old text", "Thanks a lot!"),
            ("Danke!\n\nAm 02.11.2026 um 10:00 schrieb Help <help@x.org>:\n> alt", "Danke!"),
            ("Merci !\n\nLe lun. 2 nov. 2026 à 10:00, Help <help@x.org> a écrit :\n> vieux", "Merci !"),
            ("¡Gracias!\n\nEl lun, 2 nov 2026 a las 10:00, Help (<help@x.org>) escribió:\n> viejo", "¡Gracias!"),
            ("Obrigado!\nEm seg., 2 de nov. de 2026 às 10:00, Help <help@x.org> escreveu:\n> velho", "Obrigado!"),
            ("Grazie!\nIl giorno lun 2 nov 2026 alle ore 10:00 Help <help@x.org> ha scritto:\n> vecchio", "Grazie!"),
            ("ありがとう。\n2026年11月2日(月) 10:00 Help <help@x.org>:\n> 古い", "ありがとう。"),
            ("Thanks\n\nFrom: Help <help@x.org>\nSent: Monday, 2 November 2026 10:00\nTo: me\nold", "Thanks"),
            ("Danke\n\nVon: Help <help@x.org>\nGesendet: Montag\nalt", "Danke"),
            ("Inline answer\n> quoted line\nmore new text", "Inline answer\nmore new text"),
            ("Thanks!\nOn Mon, 2 Nov 2026 at 10:00, Help <help@x.org>\nwrote:\n> old", "Thanks!"),
        ];
        for (body, expected) in cases {
            assert_eq!(split_new_text(body).new_text, expected, "body {body:?}");
        }
    }

    #[test]
    fn keeps_the_signature_apart() {
        let parts = split_new_text(
            "I need help.\n-- \nAna Silva\n+55 11 91234-5678\n\nSent from my iPhone",
        );
        assert_eq!(parts.new_text, "I need help.");
        assert!(parts.signature.contains("+55 11"));
        assert!(!parts.signature.contains("iPhone"));
    }

    #[test]
    fn a_line_starting_with_from_is_not_always_history() {
        let parts = split_new_text("From: my heart, thank you.\nIt means a lot.");
        assert_eq!(
            parts.new_text,
            "From: my heart, thank you.\nIt means a lot."
        );
    }
}
