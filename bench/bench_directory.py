#!/usr/bin/python3
"""The directory benchmark (bench/README.md): bench_directory.py BUILDDIR.

Makes a throwaway instance with its own slapd (init-config
--local-directory --port-offset N, then `ldap-local run`, attached, as the
watcher runs the service "ldap"), creates a user with commadmin, and times
the directory module of libms through the e2e tests' driver
(BUILDDIR/tests/unit/test_directory --driver, its "bench N KIND ARG"
command: N calls in a row in one process, one connection).

Figures, one per line (the best of ROUNDS rounds, default 3):
  lookups/s, cold cache       user by login name, cache off (--ttl 0): a
                              search on the server each time
  lookups/s, warm cache       the same with the default cache (after the
                              first call every answer is from the cache)
  address lookups/s, cold     user by mail address (alternate address), cache off
  address lookups/s, warm     the same, alias cache on
  authentications/s (binds)   bind as the user's DN each time (cache off)
  authentications/s, cached   service.authcachettl on: one bind, then the cache
The issue gives no figure to reach; the cold/warm ratio shows what the
cache saves.  slapd and ldap-local are stopped by PID at the end.
"""
import os
import subprocess

from benchlib import BUILD, COMMADMIN, INIT_CONFIG, LDAP_LOCAL, Instance, die, ready_to_run

ROUNDS = int(os.environ.get("MS_BENCH_ROUNDS", "3"))
DRIVER = BUILD / "tests" / "unit" / "test_directory"


class Driver:
    def __init__(self, env, *opts):
        self.p = subprocess.Popen([str(DRIVER), "--driver", *opts], env=env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, bufsize=1)
        first = self.p.stdout.readline().strip()
        if first != "READY":
            die(f"driver said {first!r}")

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().strip()

    def bench(self, n, what):
        ans = self.cmd(f"bench {n} {what}")
        f = dict(t.split("=", 1) for t in ans.split()[1:] if "=" in t)
        if not ans.startswith("OK") or f.get("ok") != f.get("count"):
            die(f"bench {what}: {ans}")
        return float(f["persecond"])

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=10)


def main():
    if not ready_to_run(INIT_CONFIG, LDAP_LOCAL, COMMADMIN, DRIVER):
        return
    with Instance("bench-directory-", "Bench-Dir-Secret-1") as inst:
        env = inst.env
        inst.create()
        inst.run(COMMADMIN, "user", "create", "-l", "joe", "-d", "example.com", "-W",
                 "Joe-Pass-1", "-H", "store1.example.com",
                 "-A", "+mailAlternateAddress:js@example.com")

        cold = Driver(env, "--ttl", "0", "--alias-ttl", "0", "--negative-ttl", "0")
        warm = Driver(env)
        cases = [
            ("lookups/s, cold cache", cold, 500, "login joe"),
            ("lookups/s, warm cache", warm, 50000, "login joe"),
            ("address lookups/s, cold", cold, 500, "address js@example.com"),
            ("address lookups/s, warm", warm, 50000, "address js@example.com"),
            ("authentications/s (binds)", cold, 300, "auth joe Joe-Pass-1"),
            ("authentications/s, cached", warm, 20000, "auth joe Joe-Pass-1"),
        ]
        best = {}
        for _ in range(ROUNDS):
            for name, d, n, what in cases:
                best[name] = max(best.get(name, 0.0), d.bench(n, what))
        cold.close()
        warm.close()
        for name, _, n, what in cases:
            print(f"{name:28} {best[name]:>10.0f}   (bench {n} {what}; best of {ROUNDS})")
        print(f"{'warm/cold lookup ratio':28} {best['lookups/s, warm cache'] / best['lookups/s, cold cache']:>10.1f}")


if __name__ == "__main__":
    main()
