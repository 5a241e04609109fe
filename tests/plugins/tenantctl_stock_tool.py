"""A third-party tool kind for the tests: `stock` looks a part up in a JSON file in the tenant's folder.

It is found only through its entry point (tenantctl_stock_tool-0.1.0.dist-info/entry_points.txt), read
by importlib.metadata once this folder is on sys.path — as it would be for an installed package.
"""

import json


def lookup(call):
    stock = json.loads((call.folder / call.options["file"]).read_text(encoding="utf-8"))
    part = call.params["part"]
    if part not in stock:
        return f"Part {part} is not stocked."
    return {"part": part, "in stock": stock[part], "warehouse": call.options.get("warehouse", "main")}


def hang(call):
    import time

    time.sleep(call.timeout_s + 5)
    return "too late"


def strict(call):
    raise LookupError(f"part {call.params['part']} is not in the catalogue")
