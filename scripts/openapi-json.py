#!/usr/bin/env python3
"""Writes www/openapi.json from www/openapi.yaml (`make openapi`): the same document as JSON, which the /docs page
reads with the browser's own JSON.parse. The YAML stays the contract people edit; tests/e2e/test_openapi.py fails
when the JSON is not what this script makes of it.

usage: scripts/openapi-json.py [--check]    (--check: exit 1 if www/openapi.json is out of date, write nothing)
"""

import json
import sys
from pathlib import Path

import yaml

WWW = Path(__file__).resolve().parents[1] / "www"


def rendered() -> str:
    document = yaml.safe_load((WWW / "openapi.yaml").read_text(encoding="utf-8"))
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def main() -> int:
    text, target = rendered(), WWW / "openapi.json"
    if "--check" in sys.argv[1:]:
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            print(f"{target} is not what www/openapi.yaml gives: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
