#!/usr/bin/env python3
"""Checks that the repository's Markdown is self-contained: every relative
link of every tracked *.md file names a file or directory inside the
repository that exists. Prints each broken link as FILE:LINE: and exits 1
if there is any. Usage: scripts/check_doc_links.py [REPO_ROOT]"""
import os
import re
import subprocess
import sys

root = os.path.realpath(sys.argv[1] if len(sys.argv) > 1 else
                        os.path.join(os.path.dirname(__file__), ".."))
files = subprocess.run(["git", "-C", root, "ls-files", "*.md"], check=True,
                       capture_output=True, text=True).stdout.split()
link = re.compile(r"\]\(([^)\s]+)\)")
bad = 0
checked = 0
for rel in files:
    path = os.path.join(root, rel)
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            for target in link.findall(line):
                if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                    continue  # a URL or an anchor in the same page
                target = target.split("#", 1)[0]
                resolved = os.path.realpath(os.path.join(os.path.dirname(path), target))
                checked += 1
                if not (resolved == root or resolved.startswith(root + os.sep)):
                    print(f"{rel}:{number}: {target} is outside the repository")
                    bad += 1
                elif not os.path.exists(resolved):
                    print(f"{rel}:{number}: {target} does not exist")
                    bad += 1
print(f"check_doc_links: {checked} relative links in {len(files)} files, {bad} broken")
sys.exit(1 if bad else 0)
