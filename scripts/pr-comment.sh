#!/usr/bin/env bash
# Post FILE as a sticky pull-request comment: update the comment that starts with its first line
# (an HTML marker such as `<!-- rust-on-aws plan-diff dev -->`), or create it. Uses the `gh` CLI
# that GitHub's runners ship, so no third-party action is needed.
# Usage: GH_TOKEN=... scripts/pr-comment.sh OWNER/REPO PR_NUMBER FILE
set -euo pipefail
repo=$1 pr=$2 file=$3
marker=$(head -n1 "$file")
existing=$(gh api "repos/$repo/issues/$pr/comments" --paginate \
  --jq ".[] | select(.body | startswith(\"$marker\")) | .id" | head -n1)
if [ -n "$existing" ]; then
  gh api -X PATCH "repos/$repo/issues/comments/$existing" -F "body=@$file" >/dev/null
  echo "updated comment $existing"
else
  gh api -X POST "repos/$repo/issues/$pr/comments" -F "body=@$file" >/dev/null
  echo "created a comment on #$pr"
fi
