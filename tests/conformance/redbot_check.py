"""REDbot on one request, with the method and headers the caller chooses.

redbot's own CLI takes only a URL; the conformance tests (tests/conformance_gated.rs)
also check a ranged and a conditional request, so this drives the same classes the CLI
does and prints one JSON object: the response's status and headers, and every note
(REDbot's own and those of its subrequests) with its level.

    python redbot_check.py URL [--method M] [--header 'Name: value']...
"""

import json
import sys
from argparse import ArgumentParser
from configparser import ConfigParser

import thor
from redbot.resource import HttpResource


def note(n):
    return {
        "id": n.__class__.__name__,
        "level": n.level.name,
        "summary": n.summary,
        "subnotes": [note(s) for s in n.subnotes],
    }


def main() -> None:
    parser = ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    headers = []
    for h in args.header:
        name, _, value = h.partition(":")
        headers.append((name.strip(), value.strip()))

    config = ConfigParser()
    config.read_dict({"redbot": {"enable_local_access": "True"}})
    resource = HttpResource(config["redbot"])
    resource.set_request(args.url, method=args.method, headers=headers)

    @thor.events.on(resource)
    def check_done() -> None:
        thor.stop()

    resource.check()
    thor.run()

    response = resource.response
    out = {"url": args.url, "complete": bool(response.complete)}
    if resource.fetch_error is not None:
        out["error"] = str(resource.fetch_error.desc)
    if response.complete:
        out["status"] = int(response.status_code)
        out["headers"] = [[n, v.strip()] for n, v in response.headers.text]
        out["notes"] = [note(n) for n in response.notes]
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
