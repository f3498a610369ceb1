"""Claims: extraction of the checkable facts of a section, and the diff between two sections."""

from __future__ import annotations

import pytest

from wikicheck.claims import Claim, diff_claims, extract_claims
from wikicheck.lexical import containment, lexical_similarity


def block(*lines: str) -> str:
    return "```sh\n" + "\n".join(lines) + "\n```\n"


def C(type_: str, key: str, value: str) -> Claim:  # noqa: N802
    return Claim(type_, key, value)


HAS = [
    # commands: code lines (prompts and sentence punctuation dropped) and inline spans
    (block("$ sudo systemctl restart pgbouncer"), C("command", "sudo systemctl", "sudo systemctl restart pgbouncer")),
    (block("kubectl -n db rollout restart deploy/pgbouncer"), C("code", "", "kubectl -n db rollout restart deploy/pgbouncer")),
    ("Run `make deploy ENV=prod`.", C("command", "make deploy", "make deploy ENV=prod")),
    # flags keyed by the program they are passed to
    (block("psql -h db-01.acme.internal -p 6543"), C("flag", "psql -h", "db-01.acme.internal")),
    (block("psql -h db-01.acme.internal -p 6543"), C("flag", "psql -p", "6543")),
    (block("psql -X -h db-01.acme.internal"), C("flag", "psql -h", "db-01.acme.internal")),  # after a valueless flag
    (block("/usr/bin/psql -h db.acme.internal"), C("flag", "psql -h", "db.acme.internal")),
    (block("./refund-batch run --batch-size 500"), C("flag", "refund-batch --batch-size", "500")),
    (block("kubectl rollout status deploy/x --watch --timeout=120s"), C("flag", "kubectl --timeout", "120s")),
    (block("sudo -u postgres psql -h db.acme.internal"), C("flag", "psql -h", "db.acme.internal")),
    (block("sudo -u postgres psql -h db.acme.internal"), C("flag", "sudo -u", "postgres")),
    (block("env PGPASSWORD=x psql -p 6432"), C("flag", "psql -p", "6432")),
    (block("kubectl -n payments exec -it deploy/toolbox -- refund-batch --batch-size 50"), C("flag", "refund-batch --batch-size", "50")),
    (block("kubectl -n payments exec -it deploy/toolbox -- refund-batch --batch-size 50"), C("flag", "kubectl -n", "payments")),
    ("Keep `--batch-size 50`.", C("flag", "--batch-size", "50")),
    # continuation lines join into one command
    (block("./refund-batch run \\", "  --batch-size 500 \\", "  --timeout 30s"), C("flag", "refund-batch --timeout", "30s")),
    (block("./refund-batch run \\", "  --timeout 30s"), C("code", "", "./refund-batch run --timeout 30s")),
    # hosts (file names are not hosts) and ports
    ("Log in to db-01.acme.internal.", C("host", "", "db-01.acme.internal")),
    ("ssh db-01.acme.internal, then restart.", C("host", "", "db-01.acme.internal")),
    ("Connect to pgbouncer.db.svc.cluster.local:6432.", C("port", "port", "6432")),
    ("Connect to 10.0.0.12:5432 now.", C("host", "", "10.0.0.12")),
    ("Connect to 10.0.0.12:5432 now.", C("port", "port", "5432")),
    ("It listens on port 5432.", C("port", "port", "5432")),
    ("Open localhost:8080 first.", C("port", "port", "8080")),
    # quantities keyed by the setting they belong to
    ("Set the timeout to 30s.", C("quantity", "timeout", "30s")),
    ("a retention of 7 days", C("quantity", "retention", "7d")),
    ("max 1.50 GB of memory", C("quantity", "max", "1.5gb")),
    ("Wait 10 minutes and rerun.", C("quantity", "m", "10m")),
    # paths, versions, urls (trailing punctuation is not part of them)
    ("Edit /etc/pgbouncer/pgbouncer.ini.", C("path", "", "/etc/pgbouncer/pgbouncer.ini")),
    ("Upgrade to version 2.17 today.", C("version", "", "2.17")),
    ("Use v1.28.3 of the chart.", C("version", "", "1.28.3")),
    ("Support will be removed in v2.7.", C("version", "", "2.7")),  # a version that ends a sentence
    ("Pin chart 1.2.3-rc.1, then sync.", C("version", "", "1.2.3-rc.1")),
    # keys with a DNS prefix: Kubernetes annotations and labels
    ("Add the argocd.argoproj.io/sync-wave annotation.", C("identifier", "", "argocd.argoproj.io/sync-wave")),
    ("Label app.kubernetes.io/name=web.", C("identifier", "", "app.kubernetes.io/name")),
    ("See https://grafana.acme.internal/d/pgbouncer.", C("url", "", "https://grafana.acme.internal/d/pgbouncer")),
    (block("$ psql -p 6432."), C("flag", "psql -p", "6432")),
    # instructions with their polarity
    ("Never run refunds during business hours.", C("instruction", "dont", "refunds during business hours")),
    ("Always do a dry run first.", C("instruction", "do", "dry first")),
    # a query or an expression quoted inline is code: what an engineer pastes
    ("Check the logs with the Loki query `{component=\"kube-apiserver\"}` first.",
     C("code", "", '{component="kube-apiserver"}')),
    ("Graph `rate(apiserver_request_total{code=~\"5..\"}[5m])` on the dashboard.",
     C("code", "", 'rate(apiserver_request_total{code=~"5.."}[5m])')),
    # deprecation notices, in the forms docs write them
    ("GPG signature verification is deprecated and will be removed in the next major version.",
     C("deprecation", "", "gpg signature verification deprecated removed next major version")),
    ("Teams (Office 365 Connectors) - Legacy service (deprecated, retires March 31, 2026)",
     C("deprecation", "", "teams office 365 connectors legacy service deprecated retires march 31 2026")),
    ("The v1 API was removed in 2.4.", C("deprecation", "", "v1 api removed 2.4")),
    ("This exporter is no longer maintained.", C("deprecation", "", "exporter longer maintained")),
]


@pytest.mark.parametrize("text,claim", HAS)
def test_extracts(text, claim):
    claims = extract_claims(text)
    assert claim in claims, sorted(claims, key=str)


HAS_NOT = [
    (block("sudo -u postgres psql -h db.acme.internal"), "flag", "-u -h"),  # sudo's flag is not psql's
    (block("kubectl -n payments exec -it deploy/toolbox -- refund-batch --batch-size 50"), "flag", "kubectl --batch-size"),
    ("Edit config.prod.yaml and README.md.", "host", None),
    ("Label app.kubernetes.io/name=web.", "host", None),
    ("See github.com/argoproj/argo-cd for the code.", "identifier", None),  # two slashes: a path, not a key
    ("Open https://argo.acme.io/applications now.", "identifier", None),  # inside a URL
    ("Edit v2.7.yaml first.", "version", None),  # a dot followed by a word is part of a name
    ("Restore backup.2024.tar.gz first.", "host", None),
    ("Never run refunds during business hours (08:00-20:00 ET).", "port", None),  # times are not ports
    ("The job starts at 14:30 and ends at 16:00.", "port", None),
    ("A full reindex of ~4.2 M products takes a while.", "quantity", None),  # M is million, not minutes
    ("Refunds are processed in batches.", "instruction", None),
    ("If the pod is removed from the node, the alert clears.", "deprecation", None),  # removed, not going away
    ("Retry the sync.", "deprecation", None),
    ("Set `replicas` on the `Deployment`.", "code", None),  # names in backticks are identifiers, not code
    ("```sh\n# restart the pooler\n```", "code", None),  # comment lines are not commands
]


@pytest.mark.parametrize("text,type_,key", HAS_NOT)
def test_does_not_extract(text, type_, key):
    got = [c for c in extract_claims(text) if c.type == type_ and (key is None or c.key == key)]
    assert got == []


# old text, new text, expected conflicts as {(type, key, old render, new render)}, substantive
DIFFS = [
    (block("psql -h db-01.acme.internal"), block("psql -h pgbouncer.db.svc.cluster.local"),
     {("flag", "psql -h", "psql -h db-01.acme.internal", "psql -h pgbouncer.db.svc.cluster.local"),
      ("command", "psql", "psql -h db-01.acme.internal", "psql -h pgbouncer.db.svc.cluster.local")}, True),
    (block("pg_dump -h db-01.acme.internal"), block("psql -h db-02.acme.internal"), set(), True),  # other program
    ("Connect on port 6543.", "Connect on port 6432.", {("port", "port", "port 6543", "port 6432")}, True),
    ("Set the timeout to 30s.", "Set the timeout to 120s.", {("quantity", "timeout", "timeout 30s", "timeout 120s")}, True),
    ("The timeout is 30s.", "The page loads in 2s.", set(), True),  # unrelated numbers never conflict
    ("Runs at 08:00 ET.", "Runs at 09:00 ET.", set(), False),  # a time is not a setting
    ("Always run a dry run before the refund batch.", "Never run a dry run before the refund batch.",
     {("instruction", "do", "dry before refund batch", "dry before refund batch")}, True),
    ("Always run a dry run before the refund batch.", "Always run a dry run before the refund batch!", set(), False),
    (block("$ psql -p 6432."), block("psql -p 6432"), set(), False),  # prompt and trailing punctuation
    ("Restart the service on the host.", "Restart the service on the host. See the dashboard.", set(), False),  # wording
    ("Docs: https://wiki.acme.internal/a", "Docs: https://wiki.acme.internal/b", set(), False),  # a link target
    ("Support will be removed in v2.6.", "Support will be removed in v2.7.", set(), True),
    ("Set the ignore annotation.", "Set argocd.argoproj.io/ignore-resource-updates to true.", set(), True),
    # a deprecation notice the newer text adds (or drops) is a change; the same notice reworded is not
    ("Verify commits with GnuPG.", "Verify commits with GnuPG. GnuPG verification is deprecated, use source integrity.",
     set(), True),
    ("Note that the v1 API is deprecated.", "Note: the v1 API is deprecated.", set(), False),
    # contractions spelled out are the same instruction
    ("If you don't get any results back, there aren't too many slow requests.",
     "If you do not get any results back, there are not too many slow requests.", set(), False),
    ("You can't restart the pooler from the UI, never try it.", "You cannot restart the pooler from the UI, never try it.",
     set(), False),
    ("Connector X (deprecated, retires soon) sends cards.", "Connector X sends cards (deprecated, retires soon).",
     set(), False),
    (block("kubectl exec deploy/x -- refund-batch --batch-size 500"), block("kubectl exec deploy/x -- refund-batch --batch-size 50"),
     {("flag", "refund-batch --batch-size", "refund-batch --batch-size 500", "refund-batch --batch-size 50"),
      ("command", "kubectl exec", "kubectl exec deploy/x -- refund-batch --batch-size 500",
       "kubectl exec deploy/x -- refund-batch --batch-size 50")}, True),
]


@pytest.mark.parametrize("old,new,conflicts,substantive", DIFFS)
def test_diff(old, new, conflicts, substantive):
    d = diff_claims(extract_claims(old), extract_claims(new))
    assert {(a.type, a.key, a.render(), b.render()) for a, b in d.conflicts} == conflicts
    assert d.substantive is substantive


def test_changed_commands_are_old_only_and_new_only():
    d = diff_claims(extract_claims(block("sudo systemctl restart pgbouncer")),
                    extract_claims(block("kubectl -n db rollout restart deploy/pgbouncer")))
    assert C("command", "sudo systemctl", "sudo systemctl restart pgbouncer") in d.old_only
    assert C("command", "kubectl db", "kubectl -n db rollout restart deploy/pgbouncer") in d.new_only
    assert not [c for c in d.old_only + d.new_only if c.type == "code"]  # a changed line is reported once, as a command
    assert d.strong


def test_diff_to_json():
    d = diff_claims(extract_claims(block("psql -h a.acme.internal -p 6543")), extract_claims(block("psql -h b.acme.internal -p 6543")))
    j = d.to_json()
    assert set(j) == {"conflicts", "old_only", "new_only"}
    assert {"type": "flag", "key": "psql -h", "old": "psql -h a.acme.internal", "new": "psql -h b.acme.internal"} in j["conflicts"]
    assert {"type": "host", "value": "a.acme.internal"} in j["old_only"]
    assert len(diff_claims(extract_claims(" ".join(f"h{i}.acme.internal" for i in range(20))), frozenset()).to_json(limit=5)["old_only"]) == 5


@pytest.mark.parametrize("a,b,expected", [
    ("restart the pooler", "restart the pooler", 1.0), ("restart the pooler", "Restart the pooler.", 1.0),
    ("a b c d", "a b x y", 0.5), ("", "", 1.0), ("a", "", 0.0),
])
def test_lexical_similarity(a, b, expected):
    assert lexical_similarity(a, b) == pytest.approx(expected)


@pytest.mark.parametrize("part,whole,expected", [("", "x", 1.0), ("a b", "a b c", 1.0), ("a b c d", "a b", 0.5)])
def test_containment(part, whole, expected):
    assert containment(part, whole) == pytest.approx(expected)


def test_changed_share_reads_like_a_diff():
    from wikicheck.lexical import changed_share, lexical_similarity

    a = "page the on-call first, then post the output in the channel"
    b = "post the output in the channel first, then page the on-call"
    assert changed_share(a, a) == 0.0
    assert changed_share("", "") == 0.0
    assert changed_share(a, "") == 1.0
    # the same words in another order: a bag of words finds them equal, a diff does not
    assert lexical_similarity(a, b) == 1.0
    assert changed_share(a, b) > 0.3
    # one word in twenty changed is well under the 15% of a prose change
    long = " ".join(f"word{i}" for i in range(20))
    assert changed_share(long, long.replace("word7", "other")) == pytest.approx(0.05)


@pytest.mark.parametrize("old,new,edit", [
    # a wording fix inside an instruction: the same instruction, for one section's own history
    ("The labels should include the claim, as well as its namespace.", "The labels should include the claim, and its namespace.", False),
    ("You must definately drain the node and wait for the pods to move before the reboot.",
     "You must definitely drain the node and wait for the pods to move before the reboot.", False),
    # an instruction extended, cut short, or turned around is a change; so is any other claim
    ("You should restart the pod.", "You should restart the pod and then drain the node.", True),
    ("Always restart the pod.", "Never restart the pod.", True),
    ("Connect on port 6543.", "Connect on port 6432.", True),
])
def test_substantive_edit_of_one_section(old, new, edit):
    d = diff_claims(extract_claims(old), extract_claims(new))
    assert d.substantive  # between two pages, any of these differences counts
    assert d.substantive_edit is edit
