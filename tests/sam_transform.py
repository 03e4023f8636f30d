"""Prints template.yaml as CloudFormation will deploy it: SAM's own transform (the
aws-sam-translator that `sam deploy` uses, from .tools/venv), run offline. tests/template.rs
reads what SAM generates from it (the stage, its dependencies), which template.yaml alone
does not show.

Usage: sam_transform.py TEMPLATE  (needs AWS_DEFAULT_REGION; any region will do)
"""

import json
import sys

from cfnlint.decode import decode
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no managed policies by name, so none need looking up."""

    def load(self):
        return {}


template, errors = decode(sys.argv[1])
if errors:
    sys.exit("\n".join(str(error) for error in errors))
# What `sam package` does to the local CodeUri before deploying.
template["Globals"]["Function"]["CodeUri"] = "s3://bucket/key"
print(json.dumps(transform(template, {}, NoManagedPolicies()), default=str))
