"""A stand-in for the OSV API (api.osv.dev/v1) on 127.0.0.1, for the audit tests: it answers
`POST /v1/querybatch` and `GET /v1/vulns/{id}` from a directory of OSV records. Like osv.dev,
a query lists the advisories that affect the package; this one leaves the version ranges to
the client (Strata evaluates them anyway). Prints its port, then serves until killed.

    python3 serve.py RECORDS_DIR
"""

import json
import os
import re
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

records = {}
for root, _, files in os.walk(sys.argv[1]):
    for name in files:
        if name.endswith(".json"):
            with open(os.path.join(root, name), encoding="utf-8") as f:
                record = json.load(f)
            records[record["id"]] = record


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


class Handler(BaseHTTPRequestHandler):
    def _answer(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path != "/v1/querybatch":
            return self._answer(404, {"message": "not found"})
        queries = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["queries"]
        results = []
        for query in queries:
            wanted = normalize(query["package"]["name"])
            vulns = [
                {"id": id, "modified": record.get("modified")}
                for id, record in sorted(records.items())
                if any(
                    normalize(a.get("package", {}).get("name", "")) == wanted
                    for a in record.get("affected", [])
                )
            ]
            results.append({"vulns": vulns} if vulns else {})
        self._answer(200, {"results": results})

    def do_GET(self):
        match = re.fullmatch(r"/v1/vulns/([^/]+)", self.path)
        if not match or match.group(1) not in records:
            return self._answer(404, {"message": "not found"})
        self._answer(200, records[match.group(1)])

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
