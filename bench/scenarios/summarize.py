"""Counts the outcomes of the reference server's scenario tests in pytest's JUnit XML files, in
all and for the tests about behaviour over HTTP: those whose body asserts no log line
(`contains_log`, `contains_log_regex`) and does not exercise Application Insights, found by
reading the tests' source.

    python3 summarize.py TESTS_DIR LABEL=DIRECTORY_OF_JUNIT_XML ...
"""

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def http_tests(tests_dir):
    """Names of the scenario tests that check HTTP behaviour only."""
    names = set()
    for path in Path(tests_dir, "scenarios").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            called = {
                call.func.id
                for call in ast.walk(node)
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            }
            text = ast.get_source_segment(path.read_text(), node) or ""
            if called & {"contains_log", "contains_log_regex"} or "app_insights" in node.name:
                continue
            if "appinsights" in text.lower():
                continue
            names.add(node.name)
    return names


def outcomes(directory):
    results = {}
    cases = [case for junit in sorted(Path(directory).glob("*.xml")) for case in ET.parse(junit).getroot().iter("testcase")]
    for case in cases:
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        else:
            outcome = "passed"
        results[case.get("name")] = outcome
    return results


def main():
    tests_dir, runs = sys.argv[1], sys.argv[2:]
    http = http_tests(tests_dir)
    table = {}
    for run in runs:
        label, directory = run.split("=", 1)
        table[label] = outcomes(directory)
    labels = list(table)
    names = sorted(set().union(*(set(results) for results in table.values())))
    print("| scenario test | about HTTP only | " + " | ".join(labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for name in names:
        row = [name, "yes" if name in http else "no (logs, App Insights)"]
        row += [table[label].get(name, "-") for label in labels]
        print("| " + " | ".join(row) + " |")
    print()
    for label in labels:
        results = table[label]
        passed = sum(outcome == "passed" for outcome in results.values())
        http_passed = sum(results.get(name) == "passed" for name in http)
        http_total = sum(name in results for name in http)
        print(f"- {label}: {passed} of {len(results)} pass; of the {http_total} about HTTP only, {http_passed} pass")


if __name__ == "__main__":
    main()
