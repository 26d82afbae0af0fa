"""The shipped many-core machines: every number carries its source tag."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAGS = ("[paper]", "[h14]", "[sb17]", "[asm]")


@pytest.mark.parametrize("name", ["upcycle-2048", "upcycle-3840", "upcycle-2048-dot"])
def test_every_number_has_a_source_comment(name):
    for i, line in enumerate((ROOT / "hwconfigs" / f"{name}.yaml").read_text().splitlines(), 1):
        body = line.split("#", 1)[0]
        if re.search(r":\s*[-+]?\d", body):
            comment = line.split("#", 1)[1] if "#" in line else ""
            assert any(t in comment for t in TAGS), f"{name}.yaml:{i} has no source: {line!r}"
