#!/usr/bin/env bash
# `buf breaking` against the last released contracts.
#
# Usage: scripts/buf_breaking.sh [REPO_DIR]   (REPO_DIR defaults to the current directory's repository)
#
# Compares REPO_DIR/proto (as it is in the working tree) with proto/ at the last contract release:
# the newest tag matching `contracts-v*` (version order), or, with no such tag, the previous commit
# (HEAD~1). If that reference is not in the clone (single commit, shallow clone, tag not fetched) or
# has no proto module, it says there is nothing to compare and passes. A breaking change exits non-zero.
# BUF names the buf binary; by default this repository's node_modules/.bin/buf, else `buf` on PATH.
set -euo pipefail

repo=$(git -C "${1:-.}" rev-parse --show-toplevel)
git_dir=$(git -C "$repo" rev-parse --path-format=absolute --git-common-dir)
subdir=proto

if [[ -z "${BUF:-}" ]]; then
	own_buf="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/node_modules/.bin/buf"
	if [[ -x "$own_buf" ]]; then BUF=$own_buf; else BUF=buf; fi
fi

tag=$(git -C "$repo" tag --list 'contracts-v*' --sort=-version:refname | head -n 1)
if [[ -n "$tag" ]]; then
	against="tag $tag"
	ref="refs/tags/$tag"
else
	against="the previous commit (HEAD~1)"
	ref="HEAD~1"
fi

if ! commit=$(git -C "$repo" rev-parse --verify -q "$ref^{commit}"); then
	echo "buf breaking: $against is not in this clone, nothing to compare"
	exit 0
fi
if ! git -C "$repo" cat-file -e "$commit:$subdir/buf.yaml" 2>/dev/null; then
	echo "buf breaking: $against (${commit:0:12}) has no $subdir module, nothing to compare"
	exit 0
fi

echo "buf breaking: comparing $subdir/ against $against (${commit:0:12})"
cd "$repo/$subdir"
if [[ -n "$tag" ]]; then
	"$BUF" breaking --against "$git_dir#tag=$tag,subdir=$subdir"
else
	"$BUF" breaking --against "$git_dir#ref=$commit,subdir=$subdir"
fi
echo "buf breaking: no breaking change against $against"
