"""The install suite: the extension installed and loaded the way its users load it.

    python3 install_test.py CHECK --build DIR --source DIR --meson PATH --prefix P --libdir L
                            --version V --receiver PATH [--sanitize S]

CHECK is one of
  destdir  `meson install --destdir` puts exactly prometheus_sink.so in
           DESTDIR/<prefix>/<libdir>; the stock sqlite3 shell, started in an
           empty folder with LD_LIBRARY_PATH set to that folder, loads it by
           its bare name (`.load prometheus_sink` and
           `SELECT load_extension('prometheus_sink')`); the loader's trace
           (LD_DEBUG=libs) shows SQLite asking for the name as given and then
           with `.so`, and the dynamic loader finding the installed file;
           without LD_LIBRARY_PATH it is not found; /usr/<libdir> (where
           `--prefix=/usr` installs) is one of the loader's system directories.
  shell    examples/shell.sql through the sqlite3 shell
  python   examples/python_sqlite3.py under Debian's /usr/bin/python3
  c        examples/auto_extension.c built with the README's `cc` command
           (verbatim) against libprometheus_sink_static.a, and run
  readme   every file in examples/ appears verbatim in the README

The shell and python examples load the extension installed into a DESTDIR,
by bare name, from an empty working folder. Each example sends to
sample_receiver (the project's test receiver in a process of its own); its URL
replaces the example's http://127.0.0.1:9090/api/v1/write (the shell example's
text; the python and C examples take it as their argument). The check is on
what the receiver decoded: the exact samples, their timestamps (the time of
the INSERT), one request, no broken protocol rule.

Exits 0 when every check passed, 1 otherwise (each failure printed).
"""

import argparse
import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "real"))
import realtest as rt  # noqa: E402  (Checks, now_ms, the sqlite3 shell)

EXAMPLE_URL = "http://127.0.0.1:9090/api/v1/write"
SQLITE3 = rt.SQLITE3
PYTHON = "/usr/bin/python3"
MODULE = "prometheus_sink.so"


def install(args, destdir):
    """meson install into destdir; returns the folder the module must be in.

    meson install rewrites meson-logs/install-log.txt, the list `ninja
    uninstall` removes: the list of a real install made before the tests is
    put back (one test at a time, under a lock)."""
    log = os.path.join(args.build, "meson-logs", "install-log.txt")
    with open(os.path.join(args.build, "meson-private", "install-test.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = None
        if os.path.exists(log):
            with open(log, "rb") as f:
                saved = f.read()
        try:
            proc = subprocess.run([args.meson, "install", "-C", args.build, "--no-rebuild", "--destdir", destdir],
                                  capture_output=True, text=True, timeout=120)
        finally:
            if saved is None:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(log)
            else:
                with open(log, "wb") as f:
                    f.write(saved)
    if proc.returncode != 0:
        sys.exit(f"meson install failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    libdir = os.path.join(args.prefix, args.libdir)  # an absolute libdir stays as it is
    return os.path.join(destdir, libdir.lstrip("/"))


def asan_preload(env):
    """Under scripts/sanitize.sh this process runs with the ASan runtime
    preloaded (meson's --wrapper), and an uninstrumented python3 that loads
    the instrumented module needs it too: the same preload, without leak
    detection (CPython does not free its objects at exit)."""
    with open("/proc/self/maps") as f:
        runtime = next((line.split()[-1] for line in f if "/libasan.so" in line), None)
    if runtime:
        env["LD_PRELOAD"] = runtime
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


class Receiver:
    """sample_receiver in a process of its own: url, then finish() -> (requests, violations, samples)."""

    def __init__(self, path):
        self.proc = subprocess.Popen([path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.proc.kill()
            sys.exit(f"sample_receiver printed {self.url!r}, not its URL")

    def finish(self):
        out, _ = self.proc.communicate(timeout=60)
        requests, violations, samples = None, [], []
        for line in out.splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "requests":
                requests = int(rest)
            elif kind == "violation":
                violations.append(rest)
            elif kind == "sample":
                labels, ts, value, _bits = rest.rsplit(" ", 3)
                samples.append((labels, int(ts), float(value)))
        return requests, violations, samples


def check_delivery(c, rx, expected, t0, t1):
    """The receiver got exactly `expected` [(labels, value)], stamped between t0 and t1, in one request."""
    requests, violations, samples = rx.finish()
    c.check(requests == 1, f"the receiver got {requests} requests, expected 1")
    c.check(not violations, f"protocol rules broken: {violations}")
    got = sorted((labels, value) for labels, _, value in samples)
    c.check(got == sorted(expected), f"samples received {got}, expected {sorted(expected)}")
    for labels, ts, _ in samples:
        c.check(t0 <= ts <= t1, f"{labels}: timestamp {ts} outside the INSERT's time [{t0}, {t1}]")


def example(args, name):
    with open(os.path.join(args.source, "examples", name)) as f:
        return f.read()


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


def check_destdir(c, args, tmp):
    modules = install(args, os.path.join(tmp, "destdir"))
    installed = sorted(os.path.relpath(os.path.join(d, f), tmp) for d, _, fs in os.walk(tmp) for f in fs)
    want = os.path.relpath(os.path.join(modules, MODULE), tmp)
    c.check(installed == [want], f"installed files {installed}, expected [{want!r}] (prefix {args.prefix}, "
                               f"libdir {args.libdir})")
    empty = os.path.join(tmp, "cwd")
    os.mkdir(empty)
    env = dict(os.environ, LD_LIBRARY_PATH=modules)

    # Both ways of loading, by bare name, from a folder that holds nothing.
    for how, script, out in [
            (".load", ".load prometheus_sink\nSELECT prometheus_sink_version();\n", f"{args.version}\n"),
            ("load_extension()", "SELECT load_extension('prometheus_sink');\nSELECT prometheus_sink_version();\n",
             f"\n{args.version}\n")]:
        p = run([SQLITE3, "-batch", ":memory:"], input=script, cwd=empty, env=env)
        c.check(p.returncode == 0 and p.stdout == out and p.stderr == "",
              f"{how} by bare name: exit {p.returncode}, stdout {p.stdout!r} (expected {out!r}), stderr {p.stderr!r}")

    # What SQLite asked the loader for, and where the loader found it.
    p = run([SQLITE3, "-batch", ":memory:"], input=".load prometheus_sink\n", cwd=empty,
            env=dict(env, LD_DEBUG="libs"))
    asked = re.findall(r"find library=(prometheus_sink[^ ]*) \[", p.stderr)
    c.check(asked == ["prometheus_sink", "prometheus_sink.so"],
          f"names SQLite asked the loader for: {asked}, expected the name as given, then with .so")
    inits = re.findall(r"calling init: (\S*prometheus_sink\S*)", p.stderr)
    want_file = os.path.realpath(os.path.join(modules, MODULE))
    c.check([os.path.realpath(i) for i in inits] == [want_file],
          f"the loader initialised {inits}, expected {want_file}")
    system = re.search(r"search path=(\S+)\s+\(system search path\)", p.stderr)
    system_dirs = system.group(1).split(":") if system else []
    usr_libdir = os.path.join("/usr", args.libdir)
    c.check(usr_libdir in system_dirs,
          f"{usr_libdir} (libdir for --prefix=/usr) is not among the loader's system directories {system_dirs}")
    configured = os.path.join(args.prefix, args.libdir)
    c.note(f"configured libdir {configured}: "
          + ("a system directory of the loader, so a real install loads by bare name" if configured in system_dirs
             else "not a system directory of the loader: a real install loads by bare name only with "
                  "--prefix=/usr (README, 'Installing and loading')"))

    # Without LD_LIBRARY_PATH the same bare name is not found (unless this
    # machine really has the extension installed in a system directory).
    if any(os.path.exists(os.path.join(d, MODULE)) for d in system_dirs):
        c.note("prometheus_sink.so is installed on this machine: the not-found check is skipped")
    else:
        bare = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
        p = run([SQLITE3, "-batch", ":memory:"], input=".load prometheus_sink\n", cwd=empty, env=bare)
        c.check(p.returncode != 0 and "prometheus_sink.so: cannot open shared object file" in p.stderr,
              f"without LD_LIBRARY_PATH: exit {p.returncode}, stderr {p.stderr!r}, expected 'cannot open'")


def check_shell(c, args, tmp):
    modules = install(args, os.path.join(tmp, "destdir"))
    script = example(args, "shell.sql")
    c.check(script.count(EXAMPLE_URL) == 1, f"examples/shell.sql holds {EXAMPLE_URL} {script.count(EXAMPLE_URL)} times")
    rx = Receiver(args.receiver)
    t0 = rt.now_ms()
    p = run([SQLITE3], input=script.replace(EXAMPLE_URL, rx.url), cwd=tmp,
            env=dict(os.environ, LD_LIBRARY_PATH=modules))
    t1 = rt.now_ms()
    out = f"{args.version}\n2|1\n"
    c.check(p.returncode == 0 and p.stdout == out and p.stderr == "",
          f"sqlite3 < shell.sql: exit {p.returncode}, stdout {p.stdout!r} (expected {out!r}), stderr {p.stderr!r}")
    check_delivery(c, rx, [('{__name__="room_temperature_celsius",room="kitchen"}', 21.5),
                        ('{__name__="room_temperature_celsius",room="hall"}', 19.25)], t0, t1)


def check_python(c, args, tmp):
    modules = install(args, os.path.join(tmp, "destdir"))
    rx = Receiver(args.receiver)
    env = asan_preload(dict(os.environ, LD_LIBRARY_PATH=modules))
    t0 = rt.now_ms()
    p = run([PYTHON, os.path.join(args.source, "examples", "python_sqlite3.py"), rx.url], cwd=tmp, env=env)
    t1 = rt.now_ms()
    c.check(p.returncode == 0 and p.stdout == "(2, 1)\n" and p.stderr == "",
          f"python3 python_sqlite3.py: exit {p.returncode}, stdout {p.stdout!r}, stderr {p.stderr!r}")
    check_delivery(c, rx, [('{__name__="queue_length",queue="orders"}', 12.0),
                        ('{__name__="queue_length",queue="emails"}', 3.0)], t0, t1)


def check_c(c, args, tmp):
    with open(os.path.join(args.source, "README.md")) as f:
        readme = f.read()
    cmd = re.search(r"^cc .*?libprometheus_sink_static\.a.*?(?<!\\)\n", readme, re.M | re.S)
    if not c.check(cmd is not None, "the README has no `cc … libprometheus_sink_static.a …` command"):
        return
    # The command runs as written, from a folder where examples/ and build/
    # are the source's and the build's.
    os.symlink(os.path.join(args.source, "examples"), os.path.join(tmp, "examples"))
    os.symlink(args.build, os.path.join(tmp, "build"))
    env = dict(os.environ)
    if args.sanitize not in ("", "none"):
        # An instrumented archive links only into an instrumented program.
        bindir = os.path.join(tmp, "bin")
        os.mkdir(bindir)
        with open(os.path.join(bindir, "cc"), "w") as f:
            f.write(f'#!/bin/sh\nexec {shutil.which("cc")} -fsanitize={args.sanitize} "$@"\n')
        os.chmod(os.path.join(bindir, "cc"), 0o755)
        env["PATH"] = bindir + ":" + env["PATH"]
    p = run(["bash", "-euc", cmd.group(0)], cwd=tmp, env=env)
    if not c.check(p.returncode == 0, f"README's cc command failed (exit {p.returncode}):\n{cmd.group(0)}{p.stderr}"):
        return
    rx = Receiver(args.receiver)
    t0 = rt.now_ms()
    p = run([os.path.join(tmp, "auto_extension"), rx.url], cwd=tmp)
    t1 = rt.now_ms()
    out = "samples_sent=2 requests=1\n"
    c.check(p.returncode == 0 and p.stdout == out and p.stderr == "",
          f"auto_extension: exit {p.returncode}, stdout {p.stdout!r} (expected {out!r}), stderr {p.stderr!r}")
    check_delivery(c, rx, [('{__name__="jobs_done_total",worker="a"}', 40.0),
                        ('{__name__="jobs_done_total",worker="b"}', 2.0)], t0, t1)


def check_readme(c, args, _tmp):
    with open(os.path.join(args.source, "README.md")) as f:
        readme = f.read()
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```$", readme, re.M | re.S)
    names = sorted(os.listdir(os.path.join(args.source, "examples")))
    c.check(names == ["auto_extension.c", "python_sqlite3.py", "shell.sql"], f"examples/ holds {names}")
    for name in names:
        c.check(example(args, name) in blocks, f"examples/{name} is not a code block of the README, verbatim")
        c.check(f"examples/{name}" in readme, f"the README does not name examples/{name}")


def main():
    checks = {"destdir": check_destdir, "shell": check_shell, "python": check_python, "c": check_c,
              "readme": check_readme}
    ap = argparse.ArgumentParser()
    ap.add_argument("check", choices=checks)
    for opt in ["build", "source", "meson", "prefix", "libdir", "version", "receiver"]:
        ap.add_argument("--" + opt, required=True)
    ap.add_argument("--sanitize", default="none")
    args = ap.parse_args()
    c = rt.Checks(f"install {args.check}")
    with tempfile.TemporaryDirectory(prefix=f"psink-install-{args.check}-") as tmp:
        checks[args.check](c, args, tmp)
    return c.finish()


if __name__ == "__main__":
    sys.exit(main())
