"""Every file in bad/ must be rejected with a ConfigError naming file, line and key path.

Each fixture states what it expects in its first line:

    # expect: LINE KEY TEXT     LINE or KEY may be '-' (none); TEXT must appear in the message;
                                LINE may be OTHER.yaml:LINE when the culprit is another file
    # set: KEY=VALUE            optional: overrides to apply (as the CLI's --set)
"""
import pathlib
import re

import pytest

from archsim.config import ConfigError, load_config

BAD = pathlib.Path(__file__).parent / "bad"
FIXTURES = sorted(BAD.glob("*.yaml"))


def _expectation(path: pathlib.Path):
    lines = path.read_text(encoding="utf-8").splitlines()
    m = re.fullmatch(r"# expect: (\S+) (\S+) (.+)", lines[0])
    assert m, f"{path.name}: first line must be '# expect: LINE KEY TEXT'"
    name, _, line = m[1].rpartition(":")
    line = None if line == "-" else int(line)
    key = None if m[2] == "-" else m[2]
    overrides = [l[len("# set: "):] for l in lines[1:] if l.startswith("# set: ")]
    return name or path.name, line, key, m[3], overrides


def test_there_are_enough_bad_fixtures():
    assert len(FIXTURES) >= 15


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_bad_config_is_rejected_precisely(path):
    name, line, key, text, overrides = _expectation(path)
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides=overrides)
    message = str(info.value)
    assert text in message
    if overrides:  # the culprit is a --set, not a line of the file
        culprit = next(o.partition("=")[0] for o in overrides)
        assert message.startswith(f"--set {culprit}: ")
        assert info.value.key == key
        return
    where = f"{name}:{line}: " if line is not None else f"{name}: "
    if key is not None:
        where += f"{key}: "
    assert where in message, f"{where!r} not in {message!r}"
    assert info.value.line == line
    assert info.value.key == key
