"""The manual pages (deploy/man): they lint clean with mandoc and man-db,
every program answers --help and --version, dirmxctl(8) has a section for
every command dirmxctl lists, and the OpenLDAP examples of
dirmx-attributes(7) do on a real slapd what the page says they do.

mandoc, man and slapd are real tools: a missing one fails the test.
"""

import glob
import os
import re
import shutil
import subprocess
import unittest

from dirmxlab import Lab, Slapd, source_dir

from authdtest import Authd, authd_bin, describe, dirmxctl_bin, _binary

MAN_DIR = os.path.join(source_dir(), "deploy", "man")
PAGES = sorted(glob.glob(os.path.join(MAN_DIR, "*.[578]")))


def routerd_bin():
    return _binary("routerd", "routerd")


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)


def tool(name):
    path = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise AssertionError("%s not installed (deploy/install-deps.sh installs it)" % name)
    return path


def dirmxctl_commands(help_text):
    """The command names of dirmxctl --help's "commands:" list."""
    names, inside = [], False
    for line in help_text.splitlines():
        if line == "commands:":
            inside = True
        elif inside and line == "":
            break
        elif inside:
            m = re.match(r"^  ([a-z][a-z-]*)(\s|$)", line)
            if m:
                names.append(m.group(1))
    return names


class PagesLint(unittest.TestCase):
    def test_every_expected_page_is_there(self):
        names = sorted(os.path.basename(p) for p in PAGES)
        for want in ("authd.8", "routerd.8", "dirmxctl.8", "dirmx.conf.5",
                     "dirmx-attributes.7"):
            self.assertIn(want, names)

    def test_mandoc_lint(self):
        mandoc = tool("mandoc")
        for page in PAGES:
            with self.subTest(page=os.path.basename(page)):
                r = run([mandoc, "-T", "lint", "-W", "warning", page])
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertEqual(r.stdout + r.stderr, "")

    def test_man_warnings(self):
        man = tool("man")
        env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
        for page in PAGES:
            with self.subTest(page=os.path.basename(page)):
                r = run([man, "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", page],
                        env=env)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "")


class Help(unittest.TestCase):
    def assert_help(self, argv, must_contain):
        r = run(argv)
        self.assertEqual(r.returncode, 0, "%s: %s" % (argv, r.stderr))
        self.assertEqual(r.stderr, "", argv)
        self.assertIn(must_contain, r.stdout, argv)
        return r.stdout

    def test_daemons_help_and_version(self):
        for prog, path in (("authd", authd_bin()), ("routerd", routerd_bin())):
            for opt in ("-h", "--help"):
                self.assert_help([path, opt], "usage: %s" % prog)
            for opt in ("-V", "--version"):
                out = self.assert_help([path, opt], prog + " ")
                self.assertRegex(out, r"^%s \d+\.\d+\.\d+\n$" % prog)
            r = run([path, "--bogus"])
            self.assertEqual(r.returncode, 2)
            self.assertIn("usage:", r.stderr)

    def test_dirmxctl_help_version_and_each_command(self):
        ctl = dirmxctl_bin()
        text = self.assert_help([ctl, "--help"], "usage: dirmxctl")
        self.assertEqual(run([ctl, "-h"]).stdout, text)
        self.assertIn("exit status", text)
        self.assertRegex(self.assert_help([ctl, "--version"], "dirmxctl"),
                         r"^dirmxctl \d+\.\d+\.\d+\n$")
        self.assertEqual(run([ctl, "-V"]).stdout, run([ctl, "--version"]).stdout)
        commands = dirmxctl_commands(text)
        self.assertGreaterEqual(len(commands), 9, text)
        for c in commands:
            for opt in ("--help", "-h"):
                with self.subTest(command=c, opt=opt):
                    out = self.assert_help([ctl, c, opt], "usage: dirmxctl")
                    self.assertIn(" %s" % c, out.splitlines()[0])
                    self.assertIn("exit status", out)

    def test_dirmxctl_usage_errors_exit_2_on_stderr(self):
        ctl = dirmxctl_bin()
        for argv in ([], ["--bogus"], ["no-such-command"], ["lookup"],
                     ["queue", "frobnicate"]):
            with self.subTest(argv=argv):
                r = run([ctl] + argv)
                self.assertEqual(r.returncode, 2, describe_run(r))
                self.assertIn("usage:", r.stderr)
                self.assertEqual(r.stdout, "")

    def test_dirmxctl_page_has_every_command_and_no_other(self):
        text = run([dirmxctl_bin(), "--help"]).stdout
        with open(os.path.join(MAN_DIR, "dirmxctl.8")) as f:
            page = f.read()
        commands_part = page.split("\n.SH COMMANDS\n", 1)[1].split("\n.SH ", 1)[0]
        sections = re.findall(r"^\.SS (\S+)$", commands_part, re.M)
        commands = dirmxctl_commands(text)
        for c in commands:
            self.assertIn(c, sections, "dirmxctl(8) has no '.SS %s' under COMMANDS" % c)
        for s in sections:
            self.assertIn(s, commands, "dirmxctl(8) documents '%s', which dirmxctl "
                          "does not list" % s)
        # The exit codes of the usage are the page's.
        exit_part = page.split("\n.SH EXIT STATUS\n", 1)[1].split("\n.SH ", 1)[0]
        self.assertEqual(re.findall(r"^\.B (\d)$", exit_part, re.M), ["0", "1", "2", "3"])
        for code in "0123":
            self.assertRegex(text, r"\b%s (success|a negative|usage|temporary)" % code)


def describe_run(r):
    return "exit %d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout, r.stderr)


def page_examples(path):
    """dirmx-attributes(7)'s tested examples: (ldif blocks, expectations),
    with the roff escapes the blocks may hold undone."""
    with open(path) as f:
        lines = f.read().split("\n")
    blocks, expects = [], []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line == '.\\" ldif':
            while lines[i] != ".nf":
                i += 1
            i += 1
            block = []
            while lines[i] != ".fi":
                block.append(lines[i].replace("\\-", "-").replace("\\(aq", "'"))
                i += 1
            for text in block:
                if "\\" in text:
                    raise AssertionError("roff escape left in an LDIF example: %r" % text)
            blocks.append("\n".join(block) + "\n")
        elif line.startswith('.\\" expect '):
            words = line.split()[2:]
            addr, rest = words[0], words[1:]
            if rest == ["NOTFOUND"]:
                expects.append((len(blocks), addr, None))
            else:
                pairs = [(rest[k], rest[k + 1]) for k in range(0, len(rest), 2)]
                expects.append((len(blocks), addr, pairs))
        i += 1
    return blocks, expects


class AttributeExamples(unittest.TestCase):
    """Each block of the page applied in turn with ldapmodify to a slapd
    whose suffix is the page's dc=example,dc=com; after each block, the
    page's expectations so far are asked of authd (dirmxctl lookup)."""

    def test_openldap_examples_do_what_the_page_says(self):
        blocks, expects = page_examples(os.path.join(MAN_DIR, "dirmx-attributes.7"))
        self.assertGreaterEqual(len(blocks), 6)
        self.assertGreaterEqual(len(expects), 6)
        lab = Lab("man")
        self.addCleanup(lab.close)
        slapd = Slapd(lab, suffix="dc=example,dc=com")
        # The accepted domains are read at start: the first block (the
        # domain objects) goes in before authd starts.
        slapd.modify_ldif(blocks[0])
        authd = Authd(lab, slapd, log_level="info")
        checked = self.check_expects(authd, expects, 1)
        for n, block in enumerate(blocks[1:], start=2):
            slapd.modify_ldif(block)
            checked += self.check_expects(authd, expects, n)
        self.assertEqual(checked, len(expects))

    def check_expects(self, authd, expects, after):
        """The expectations written after the after-th block."""
        n = 0
        for when, addr, want in expects:
            if when != after:
                continue
            n += 1
            with self.subTest(block=after, addr=addr):
                r = authd.lookup(addr, nocache=True)
                if want is None:
                    self.assertEqual(r.rc, 1, describe(r))
                    self.assertTrue((r.failure or "").startswith("NOTFOUND"), describe(r))
                else:
                    self.assertEqual(r.rc, 0, describe(r))
                    self.assertEqual(sorted(r.dests), sorted(want), describe(r))
        return n

if __name__ == "__main__":
    unittest.main()
