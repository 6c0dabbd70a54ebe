"""Translate a SAM template to plain CloudFormation JSON, offline (no AWS call).

Runs in the tools venv (aws-sam-translator comes with aws-sam-cli):
    .tools/sam/bin/python tools/sam_translate.py hub/template.yaml --code-uri s3://bucket/key > out.json
`--code-uri` stands in for what `sam package` does: it replaces every function's local CodeUri
with the uploaded artifact."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


class _NoManagedPolicies:
    """The hub names no SAM policy templates or managed policies by name: nothing to look up."""

    def load(self) -> dict[str, str]:
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("template", type=Path)
    parser.add_argument("--code-uri", default="s3://rekey-artifacts/functions.zip")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args(argv)

    os.environ.setdefault("AWS_DEFAULT_REGION", args.region)
    from samcli.yamlhelper import yaml_parse
    from samtranslator.translator.transform import transform

    template = yaml_parse(args.template.read_text())
    template.setdefault("Globals", {}).setdefault("Function", {})["CodeUri"] = args.code_uri
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.get("Properties", {}).pop("CodeUri", None)
    translated = transform(template, {"AWS::Region": args.region}, _NoManagedPolicies())
    json.dump(translated, sys.stdout, indent=1, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
