#!/usr/bin/env python3
"""The peer for bench/reports-ingest.ts: Python's csv and json modules (what
IntelMQ's Shadowserver and JSON parsers build on) doing the same minimal work
per row as Mamori's reader: read by header name, parse the address and check
it against the ISP's prefixes, parse the time (UTC) and the port, normalise
the family, skip repeats. Prints {rows, entries, seconds, maxRssMiB} as JSON.

    python3 bench/reports-peer.py csv|jsonl FILE PREFIX...
"""
import csv
import ipaddress
import json
import resource
import sys
import time
from datetime import datetime, timezone


def main() -> None:
    kind, path, *prefixes = sys.argv[1:]
    nets = [ipaddress.ip_network(p) for p in prefixes]
    seen = set()
    rows = entries = 0
    started = time.perf_counter()

    def take(addr, port, when, family):
        nonlocal entries
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return
        if not any(ip in n for n in nets):
            return
        try:
            t = datetime.fromisoformat(when)
        except ValueError:
            return
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        ms = int(t.timestamp() * 1000)
        p = int(port) if port not in (None, '') else None
        key = (str(ip), p, ms, (family or 'unknown').lower())
        if key in seen:
            return
        seen.add(key)
        entries += 1

    with open(path, newline='', encoding='utf-8') as f:
        if kind == 'csv':
            for r in csv.DictReader(f):
                rows += 1
                take(r['src_ip'], r.get('src_port'), r['timestamp'], r.get('infection') or r.get('family'))
        else:
            for line in f:
                if not line.strip():
                    continue
                rows += 1
                e = json.loads(line)
                if e.get('classification.type') != 'infected-system':
                    continue
                take(e.get('source.ip'), e.get('source.port'), e.get('time.source'), e.get('malware.name'))
    seconds = time.perf_counter() - started
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({'rows': rows, 'entries': entries, 'seconds': seconds, 'maxRssMiB': max_rss}))


main()
