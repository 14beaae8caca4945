# Shared by the benchmark and drill scripts: a throwaway Dovecot IMAP server on loopback
# (the recipe of tests/it/harness.rs), one user `bench` with the password `secret`.
#
#   . scripts/lib/dovecot.sh
#   start_dovecot DIR PORT      # serves DIR/mail/bench/Maildir; stop with stop_dovecot DIR

start_dovecot() { # dir port
  local D=$1 PORT=$2
  mkdir -p "$D/run" "$D/state" "$D/mail/bench"
  echo "bench:secret" > "$D/passwd"
  cat > "$D/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $D/run
state_dir = $D/state
instance_name = concierge-bench-$PORT
log_path = $D/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
default_login_user = nobody
default_internal_user = nobody
default_internal_group = nogroup
first_valid_uid = 65534
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $D/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$D/mail/%n
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
CONF
  chown -R nobody:nogroup "$D"
  dovecot -c "$D/dovecot.conf"
  for _ in $(seq 1 100); do
    python3 - "$PORT" <<'PY' 2>/dev/null && return 0
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
sys.exit(0 if s.recv(64).startswith(b"* OK") else 1)
PY
    sleep 0.2
  done
  echo "Dovecot did not start on $PORT" >&2
  return 1
}

stop_dovecot() { # dir
  [ -f "$1/dovecot.conf" ] && dovecot -c "$1/dovecot.conf" stop >/dev/null 2>&1 || true
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
