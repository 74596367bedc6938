"""The write policy as the spec it is (DESIGN 14): one entry per model and write tool, one
per domain tool, and the read side per model, each rule with the stable id refusals name.

    from ormai_django.inventory import build_inventory, render
    print(render(build_inventory(get_policy()), "markdown"))

``manage.py ormai_inventory`` prints it; ``ormai_probe`` attacks the policy and checks
what got through against it. The JSON form follows ``schema.json`` beside this module.
"""

from __future__ import annotations

from ormai_django.inventory.build import SCHEMA_VERSION, build_inventory, schema
from ormai_django.inventory.render import FORMATS, render

__all__ = ["FORMATS", "SCHEMA_VERSION", "build_inventory", "render", "schema"]
