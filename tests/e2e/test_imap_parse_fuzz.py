"""imapd against the inputs the fuzzers of tests/fuzz found (fuzz_imapparse).

- LIST with a pattern of many '*' against a long mailbox name: the
  recursive matcher backtracked exponentially (minutes of CPU for one
  LIST); it now answers at once, with the same matches.
- A mailbox name whose modified UTF-7 decodes to a control character
  (U+0000 cut names short in UTF-8) is refused.
"""
import time

import pytest

from imap_fixtures import imapd_instance, login, raw

PASSWORD = "Imap-Fuzz-1"


@pytest.fixture(scope="module")
def imap(tmp_path_factory):
    with imapd_instance(tmp_path_factory.mktemp("imapfz"), ("joe",), PASSWORD, "Fuzz") as inst:
        yield inst


def test_list_pattern_with_many_stars_is_fast(imap):
    c = login(imap, "joe")
    name = "a" * 200
    assert c.create(name)[0] == "OK"
    start = time.monotonic()
    status, untagged = raw(c, 'LIST "" "' + "*a" * 20 + '*b"')
    elapsed = time.monotonic() - start
    assert status.startswith("OK"), status
    assert not any(name in u for u in untagged), untagged
    assert elapsed < 5, elapsed
    status, untagged = raw(c, 'LIST "" "' + "*a" * 20 + '*"')
    assert status.startswith("OK"), status
    assert any(name in u for u in untagged), untagged
    status, untagged = raw(c, 'LIST "" "%a%"')
    assert any(name in u for u in untagged), untagged
    c.logout()


@pytest.mark.parametrize("bad", ["x&AAA-", "&AB8-", "y&AH8-"])
def test_control_characters_in_modified_utf7_refused(imap, bad):
    c = login(imap, "joe")
    status, _ = raw(c, f'CREATE "{bad}"')
    assert status.startswith("NO"), status
    status, untagged = raw(c, 'LIST "" "*"')
    assert not any(bad in u for u in untagged), untagged
    c.logout()


def test_other_modified_utf7_still_accepted(imap):
    c = login(imap, "joe")
    for name in ("ok&AIA-", "caf&AOk-", "A&-B"):  # U+0080 is no control
        assert c.create(name)[0] == "OK", name
    status, untagged = raw(c, 'LIST "" "*"')
    assert all(any(n in u for u in untagged) for n in ("ok&AIA-", "caf&AOk-", "A&-B")), untagged
    c.logout()
