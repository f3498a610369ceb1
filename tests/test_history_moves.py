"""Issue 9 acceptance: history follows the text, not the path.

Real history is not staleness. Each test builds a real git repository with backdated commits, in
which pages are renamed (`git mv`, with and without edits, whole directories), sections move
between pages (in one commit or two), pages are split and merged, a change is reverted, a heading
is renamed, and sibling pages are generated from one template. None of that may produce a finding
above ``info``, and the retrieval guard must block none of it.

Next to every scenario, in the same repository, two genuinely stale copies are the control (so a
test cannot pass by flagging nothing):

* ``teams/search/redis-failover.md`` copies ``platform/redis-failover.md`` two weeks after it was
  written (2021); the platform page's failover procedure changes in 2026. The copy's section is
  ``superseded`` (or ``contradicted``) at warning or error, pointing to the platform section; the
  platform page gets nothing above info.
* ``teams/search/memcached-flush.md`` copies ``platform/memcached-flush.md``, which is deleted
  outright in 2026 (not renamed, not moved anywhere): the copy is ``obsolete``.

Most tests use the deterministic hashing embedder; ``test_real_model_end_to_end_rename_move_and_stale_copy``
runs all-MiniLM-L6-v2 (select with ``-k real_model``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_index_consistent, git, init_repo, write_files
from rules.helpers import NO_AGE_RULES, NOW, config

from wikicheck.check import CheckResult, Finding, level_at_least, run_checks
from wikicheck.crawl import CrawlSummary, crawl
from wikicheck.embed import get_embedder
from wikicheck.guard import Guard, GuardConfig
from wikicheck.store import Store

FAKE_MODEL = "test-hash-64"

# ============================================================================ page builders


def section(heading: str, prose: str, code: str | None = None, after: str | None = None, level: int = 2) -> str:
    out = f"{'#' * level} {heading}\n\n{prose.strip()}\n"
    if code is not None:
        out += f"\n```sh\n{code.strip()}\n```\n"
    if after:
        out += f"\n{after.strip()}\n"
    return out


def page(title: str, intro: str, *sections: str, front: str | None = None) -> str:
    head = f"---\n{front.strip()}\n---\n\n" if front else ""
    return head + f"# {title}\n\n{intro.strip()}\n\n" + "\n".join(sections)


def edit(text: str, old: str, new: str) -> str:
    """text with `old` replaced by `new`; `old` must be there (a typo must not make a no-op edit)."""
    assert old in text, f"edit: {old!r} not in the page"
    return text.replace(old, new)


def drop(text: str, sec: str) -> str:
    """The page without one of its sections (as built by `section`)."""
    assert sec in text, "drop: section not on the page"
    return text.replace(sec, "").replace("\n\n\n", "\n\n")


# ============================================================================ repositories


class Repo:
    """A git repository written commit by commit with backdated dates.

    `after_commit` (optional) runs after every commit: the nightly-crawl variant crawls there."""

    def __init__(self, path: Path, after_commit: Callable[[], Any] | None = None):
        self.path = init_repo(path)
        self.after_commit = after_commit

    def _done(self) -> str:
        sha = git(self.path, "rev-parse", "HEAD").strip()
        if self.after_commit:
            self.after_commit()
        return sha

    def commit(self, date: str, files: dict[str, str | bytes | None], message: str = "edit") -> str:
        write_files(self.path, files)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message, date=date)
        return self._done()

    def mv(self, date: str, moves: dict[str, str], message: str = "move",
           edits: dict[str, str | bytes | None] | None = None) -> str:
        """`git mv` every old -> new path (a file or a directory), optionally edit, commit."""
        for old, new in moves.items():
            (self.path / new).parent.mkdir(parents=True, exist_ok=True)
            git(self.path, "mv", old, new)
        write_files(self.path, edits or {})
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", message, date=date)
        return self._done()

    def revert(self, date: str, sha: str) -> str:
        git(self.path, "revert", "--no-edit", sha, date=date)
        return self._done()

    def renames_in(self, sha: str) -> dict[tuple[str, str], int]:
        """What git itself reports for a commit: {(old, new): similarity %} of its renames."""
        out = git(self.path, "show", "-M", "--format=", "--name-status", sha)
        got = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if parts[0].startswith("R"):
                got[(parts[1], parts[2])] = int(parts[0][1:])
        return got


def short(sha: str) -> str:
    return sha[:10]


# ============================================================================ the controls: genuinely stale copies

# Dates of the control pages: copied in 2021, the platform pages change or go years later.
X_DATE = "2021-11-08T09:15:00+00:00"
X_COPY_DATE = "2021-11-22T14:40:00+00:00"
MC_DATE = "2022-01-10T11:00:00+00:00"
MC_COPY_DATE = "2022-01-24T16:20:00+00:00"
X_CHANGE_DATE = "2026-02-10T10:30:00+00:00"
MC_DELETE_DATE = "2026-03-03T08:45:00+00:00"

X_PATH = "platform/redis-failover.md"
X_COPY = "teams/search/redis-failover.md"
MC_PATH = "platform/memcached-flush.md"
MC_COPY = "teams/search/memcached-flush.md"

X_OVERVIEW = section(
    "Overview",
    "The session cache runs as a Redis primary with two replicas, watched by three Sentinel processes. "
    "Fail over when the primary stops answering, when its host is drained for maintenance, or when "
    "replication lag on both replicas stays above thirty seconds.")
X_FAILOVER_OLD = section(
    "Fail over",
    "Ask Sentinel to promote a replica of the `session-cache` master, then confirm which node is the "
    "primary now and that the old primary rejoined as a replica:",
    """redis-cli -h sentinel-01.acme.internal -p 26379 SENTINEL failover session-cache
redis-cli -h sentinel-01.acme.internal -p 26379 SENTINEL get-master-addr-by-name session-cache
redis-cli -h redis-02.acme.internal -p 6379 INFO replication""")
X_FAILOVER_NEW = section(
    "Fail over",
    "Sentinel runs in the cluster now. Ask it to promote a replica of the `session-cache` master, then "
    "confirm which pod is the primary and that the old primary rejoined as a replica:",
    """kubectl --namespace cache exec redis-sentinel-0 -- redis-cli -p 26379 SENTINEL failover session-cache
kubectl --namespace cache exec redis-sentinel-0 -- redis-cli -p 26379 SENTINEL get-master-addr-by-name session-cache
redis-cli -h redis.cache.svc.cluster.local -p 6380 --tls INFO replication""")
X_VERIFY = section(
    "Verify",
    "Clients reconnect through Sentinel within a few seconds. Watch the error rate of the checkout and "
    "search frontends on the session dashboard for ten minutes before closing the incident, and check "
    "that the eviction count did not jump after the failover.")
X_ESCALATION = section(
    "Escalation",
    "If no replica can be promoted, page the platform on-call through the PagerDuty service "
    "platform-cache and post the Sentinel output in the cache-oncall channel.")
X_INTRO = "Owner: platform team. Use this page when the session cache primary is down or must be moved."


def x_page(failover: str) -> str:
    return page("Fail over Redis", X_INTRO, X_OVERVIEW, failover, X_VERIFY, X_ESCALATION)


X_2021 = x_page(X_FAILOVER_OLD)
X_2026 = x_page(X_FAILOVER_NEW)
X_COPY_TEXT = page("Search team: Fail over Redis", X_INTRO, X_OVERVIEW, X_FAILOVER_OLD, X_VERIFY, X_ESCALATION)

MC_FLUSH = section(
    "Flush",
    "Flush every item of the catalogue cache on each memcached node in turn, waiting a minute between "
    "nodes so that the database behind it is not hit by every request at once:",
    """echo flush_all | nc -q 2 memcached-01.acme.internal 11211
sleep 60
echo flush_all | nc -q 2 memcached-02.acme.internal 11211""")
MC_VERIFY = section(
    "Verify",
    "Run the stats command against each node and check that curr_items dropped to a few hundred and "
    "climbs again as the catalogue service refills the cache:",
    "echo stats | nc -q 2 memcached-01.acme.internal 11211 | grep -E 'curr_items|get_hits'")
MC_INTRO = ("The catalogue cache keeps rendered product listings for fifteen minutes. Flush it after a bad "
            "catalogue import, never during the evening traffic peak.")
MC_2022 = page("Flush Memcached", MC_INTRO, MC_FLUSH, MC_VERIFY)
MC_COPY_TEXT = page("Search team: Flush Memcached", MC_INTRO, MC_FLUSH, MC_VERIFY)

CONTROL_COPIES = {X_COPY, MC_COPY}


def start_controls(repo: Repo) -> None:
    """The platform pages and the team copies, in 2021-2022 (before any scenario commit)."""
    repo.commit(X_DATE, {X_PATH: X_2021}, "Add the Redis failover runbook")
    repo.commit(X_COPY_DATE, {X_COPY: X_COPY_TEXT}, "Search team: keep a copy of the Redis failover runbook")
    repo.commit(MC_DATE, {MC_PATH: MC_2022}, "Add the memcached flush runbook")
    repo.commit(MC_COPY_DATE, {MC_COPY: MC_COPY_TEXT}, "Search team: copy the memcached flush runbook")


def finish_controls(repo: Repo) -> None:
    """Years later: the failover procedure changes, memcached is retired (its page deleted outright)."""
    repo.commit(X_CHANGE_DATE, {X_PATH: X_2026}, "Redis Sentinel moved to Kubernetes")
    repo.commit(MC_DELETE_DATE, {MC_PATH: None}, "Memcached is retired")


# ============================================================================ crawl, check, guard


@dataclass
class Outcome:
    repo: Path
    index: Path
    summary: CrawlSummary
    result: CheckResult
    verdicts: dict[tuple[str, str], tuple[str, list[dict[str, Any]], dict[str, Any] | None]]
    sections: dict[tuple[str, str], dict[str, Any]]

    @property
    def serious(self) -> list[Finding]:
        return [f for f in self.result.findings if level_at_least(f.level, "warning")]


def show(findings: Iterable[Finding]) -> str:
    """rule, level, kind, path, heading, message and the section it points to: for assertion messages."""
    lines = []
    for f in findings:
        newer = f" -> {f.newer['path']} §{f.newer['heading']}" if f.newer else ""
        lines.append(f"  {f.rule} {f.level} {f.kind} {f.path} §{f.heading}: {f.message}{newer}")
    return "\n".join(lines) or "  (none)"


def show_verdicts(out: Outcome, keys: Iterable[tuple[str, str]]) -> str:
    lines = []
    for k in sorted(keys):
        verdict, reasons, _ = out.verdicts[k]
        why = "; ".join(f"{r.get('rule')} {r.get('kind')}: {r.get('message')}" for r in reasons)
        lines.append(f"  {verdict} {k[0]} §{k[1]}: {why}")
    return "\n".join(lines) or "  (none)"


def crawl_repo(repo: Path, index: Path, embedder: Any = None) -> CrawlSummary:
    return crawl([str(repo)], index, embedder=embedder or get_embedder(FAKE_MODEL))


def analyse(repo: Path, index: Path, embedder: Any = None) -> Outcome:
    """Crawl (again, after the nightly variant's crawls: a no-op then), check (recorded, as the CLI does), and ask the
    guard for its verdict on every live section."""
    embedder = embedder or get_embedder(FAKE_MODEL)
    summary = crawl_repo(repo, index, embedder)
    with Store.open(index) as st:
        result = run_checks(st, config(NO_AGE_RULES), now=NOW, record=True)
    guard = Guard(index, embedder=embedder, config=GuardConfig(record_events=False))
    try:
        verdicts = {(s["path"], s["heading"]): guard.judge(s) for s in guard.by_id.values()}
        sections = {(s["path"], s["heading"]): s for s in guard.by_id.values()}
    finally:
        guard.close()
    return Outcome(repo, index, summary, result, verdicts, sections)


def assert_clean_but_for_the_controls(out: Outcome, scenario: str) -> None:
    """No finding above info and no blocked section anywhere but on the two stale copies; the stale
    copies are flagged and blocked as they must be."""
    # 1. nothing above info outside the control copies
    bad = [f for f in out.serious if f.path not in CONTROL_COPIES]
    # the redis copy: only its failover section is stale, the rest says what the platform page says
    bad += [f for f in out.serious if f.path == X_COPY and f.heading != "Fail over"]
    assert not bad, (f"{scenario}: findings above info that are history, not staleness:\n{show(bad)}\n"
                     f"all findings:\n{show(out.result.findings)}")
    # ...and no finding, at any level, sends a reader of current text to a stale copy
    to_copies = [f for f in out.result.findings if f.newer and f.newer["path"] in CONTROL_COPIES]
    assert not to_copies, f"{scenario}: findings that point to a stale copy:\n{show(to_copies)}"

    # 2. the guard blocks nothing outside the control copies
    blocked = {k for k, (v, _, _) in out.verdicts.items() if v == "block"}
    allowed = {k for k in blocked if k[0] == MC_COPY} | {(X_COPY, "Fail over")}
    assert blocked <= allowed, (f"{scenario}: the guard blocks current sections:\n"
                                f"{show_verdicts(out, blocked - allowed)}")

    # 3. the controls still fire
    assert_controls_flagged(out, scenario)


def assert_controls_flagged(out: Outcome, scenario: str = "") -> None:
    got = [f for f in out.serious if f.path == X_COPY and f.heading == "Fail over"]
    assert got, (f"{scenario}: the stale team copy {X_COPY} §Fail over is not flagged at warning or above:\n"
                 f"{show(out.result.findings)}")
    assert any(f.kind in ("superseded", "contradicted") and f.newer
               and (f.newer["path"], f.newer["heading"]) == (X_PATH, "Fail over") for f in got), (
        f"{scenario}: {X_COPY} §Fail over must be superseded/contradicted by {X_PATH} §Fail over:\n{show(got)}")
    on_x = [f for f in out.serious if f.path == X_PATH]
    assert not on_x, f"{scenario}: the current platform page is flagged:\n{show(on_x)}"

    gone = [f for f in out.serious if f.path == MC_COPY and f.heading == "Flush"]
    assert "obsolete" in {f.kind for f in gone}, (
        f"{scenario}: the copy of the deleted page {MC_COPY} §Flush must be obsolete:\n{show(out.result.findings)}")

    verdict, _, newer = out.verdicts[(X_COPY, "Fail over")]
    assert verdict == "block" and newer and newer["path"] == X_PATH, (
        f"{scenario}: the guard does not block the stale copy:\n{show_verdicts(out, [(X_COPY, 'Fail over')])}")
    assert out.verdicts[(MC_COPY, "Flush")][0] == "block", show_verdicts(out, [(MC_COPY, "Flush")])


def new_repo(tmp_path: Path, index: Path, mode: str = "once") -> Repo:
    """A repository with the controls' first commits. mode "nightly": crawl after every commit."""
    hook = (lambda: crawl_repo(tmp_path / "wiki", index)) if mode == "nightly" else None
    repo = Repo(tmp_path / "wiki", hook)
    start_controls(repo)
    return repo


# ============================================================================ scenario pages

KAFKA_INTRO = ("Consumer lag alerts fire when a consumer group of the orders pipeline falls more than fifty "
               "thousand messages behind. Owner: data platform team.")
KAFKA_CHECK = section(
    "Check the lag",
    "Describe the consumer group from a broker host and look at the LAG column for each partition; "
    "lag on one partition only usually means a stuck consumer, lag everywhere means too few consumers:",
    """ssh kafka-broker-01.acme.internal
kafka-consumer-groups.sh --bootstrap-server kafka-broker-01.acme.internal:9092 --describe --group orders-enricher
kafka-consumer-groups.sh --bootstrap-server kafka-broker-01.acme.internal:9092 --describe --group orders-enricher --members""")
KAFKA_SCALE = section(
    "Scale the consumers",
    "Add consumers up to the partition count (twelve for the orders topic); more consumers than "
    "partitions sit idle and only add rebalances:",
    """kubectl --namespace orders scale deployment/orders-enricher --replicas=12
kubectl --namespace orders rollout status deployment/orders-enricher --timeout=300s""")
KAFKA_RESET = section(
    "Reset offsets",
    "Only with the approval of the orders product owner: skipping messages loses orders. Stop the "
    "consumers first, then move the group to the latest offset and start them again:",
    """kafka-consumer-groups.sh --bootstrap-server kafka-broker-01.acme.internal:9092 --group orders-enricher --topic orders --reset-offsets --to-latest --execute""")
KAFKA_2022 = page("Kafka consumer lag", KAFKA_INTRO, KAFKA_CHECK, KAFKA_SCALE, KAFKA_RESET)

ES_INTRO = ("The logging Elasticsearch cluster turns red when a primary shard is unassigned. Writes to the "
            "affected index fail until the shard is allocated again; owner: observability team.")
ES_FIND = section(
    "Find the unassigned shards",
    "List the shards that are not started and ask the cluster why the first of them cannot be allocated; "
    "the explanation names the node and the decider that said no:",
    """curl -s 'http://es-master-01.acme.internal:9200/_cat/shards?v&h=index,shard,prirep,state,unassigned.reason' | grep -v STARTED
curl -s -XGET 'http://es-master-01.acme.internal:9200/_cluster/allocation/explain?pretty'""")
ES_DISK = section(
    "Disk watermarks",
    "Most red clusters here are full disks: at the high watermark of ninety percent no new shard is "
    "allocated to a node. Check disk usage per node and delete the oldest daily indices first:",
    """curl -s 'http://es-master-01.acme.internal:9200/_cat/allocation?v'
curator_cli --host es-master-01.acme.internal delete_indices --filter_list '[{"filtertype":"age","source":"name","direction":"older","timestring":"%Y.%m.%d","unit":"days","unit_count":14}]'""")
ES_RETRY = section(
    "Retry the allocation",
    "Once the cause is fixed, ask the master to retry allocations that failed five times in a row; it "
    "does not retry them on its own:",
    "curl -s -XPOST 'http://es-master-01.acme.internal:9200/_cluster/reroute?retry_failed=true'")
ES_ESCALATE = section(
    "Escalation",
    "If a primary shard has no copy left on any node, the index has lost data: page the observability "
    "on-call through PagerDuty service obs-logging and do not delete the index before they answer.")
ES_2022 = page("Elasticsearch cluster red", ES_INTRO, ES_FIND, ES_DISK, ES_RETRY, ES_ESCALATE)

DNS_2022 = page(
    "DNS resolution failures",
    "Pods fail to resolve internal names when CoreDNS is overloaded or its upstream resolvers are down. "
    "Symptoms: SERVFAIL in application logs and spikes in the coredns_dns_responses_total metric.",
    section("Check CoreDNS",
            "Look at the CoreDNS pods and their recent logs, then resolve a name from a debug pod in the "
            "affected namespace to see whether the failure is cluster wide:",
            """kubectl --namespace kube-system get pods -l k8s-app=kube-dns -o wide
kubectl --namespace kube-system logs -l k8s-app=kube-dns --since=30m --tail=100
kubectl run dnsdebug --rm -it --image=registry.acme.internal/tools/dnsutils:1.3 -- nslookup orders.orders.svc.cluster.local"""),
    section("Check the upstream resolvers",
            "CoreDNS forwards everything outside the cluster domain to the two resolvers of the data "
            "centre; query them directly from a node:",
            """dig @10.20.0.53 acme.internal SOA +time=2 +tries=1
dig @10.20.1.53 acme.internal SOA +time=2 +tries=1"""),
    section("Scale CoreDNS",
            "When the pods are saturated (CPU above eighty percent, many timeouts), raise the replica "
            "count; the autoscaler floor is four replicas:",
            "kubectl --namespace kube-system scale deployment/coredns --replicas=8"),
)

TLS_2022 = page(
    "Rotate TLS certificates",
    "Public certificates of the edge load balancers are issued by the internal ACME service and rotated "
    "thirty days before expiry. Use this page when the automatic renewal failed or a key leaked.",
    section("Check expiry",
            "Ask every edge host for the certificate it serves and print the expiry date; anything under "
            "fourteen days needs a manual rotation today:",
            """for h in edge-01.acme.internal edge-02.acme.internal; do
  echo | openssl s_client -connect $h:443 -servername shop.acme.com 2>/dev/null | openssl x509 -noout -enddate
done"""),
    section("Issue a new certificate",
            "Request the certificate from the internal ACME endpoint with the DNS challenge, then copy the "
            "chain and key to the vault path the load balancers read:",
            """certbot certonly --server https://acme.acme.internal/directory --preferred-challenges dns -d shop.acme.com
vault kv put secret/edge/shop.acme.com cert=@fullchain.pem key=@privkey.pem"""),
    section("Reload the load balancers",
            "The haproxy processes pick the new certificate up on reload without dropping connections; "
            "reload one host at a time and check the served certificate in between:",
            "ssh edge-01.acme.internal sudo systemctl reload haproxy"),
)

CI_2022 = page(
    "CI runner disk full",
    "Build jobs fail with no space left on device when a runner's docker volume fills up with layers "
    "and build caches. The runners are the ci-runner-NN hosts in the build VLAN.",
    section("Free space",
            "Remove stopped containers, dangling images and build caches older than a day; this keeps the "
            "base images that most jobs need warm:",
            """ssh ci-runner-04.acme.internal
docker system prune --force --filter until=24h
docker builder prune --force --keep-storage 20GB
df -h /var/lib/docker"""),
    section("Take a runner out of rotation",
            "When pruning is not enough, pause the runner in GitLab so no new job lands on it, wait for its "
            "running jobs, then grow the volume:",
            """gitlab-runner verify --delete
sudo lvextend --resizefs --size +100G /dev/vg0/docker"""),
)

PG_INTRO = ("The orders database runs as a primary with two streaming replicas. This page covers "
            "replication lag on the replicas that serve the reporting queries.")
PG_CHECK = section(
    "Check replication lag",
    "On the primary, compare the replay position of each replica with the current WAL position; more "
    "than a gigabyte behind means reporting reads are minutes stale:",
    """psql -h pg-orders-primary.acme.internal -U postgres -c "select client_addr, state, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) as bytes_behind from pg_stat_replication" """)
PG_REBUILD = section(
    "Rebuild a replica",
    "A replica that fell behind the retained WAL cannot catch up: stop it, wipe its data directory and "
    "take a fresh base backup from the primary, which takes about forty minutes for the orders database:",
    """ssh pg-orders-replica-02.acme.internal
sudo systemctl stop postgresql@14-main
sudo -u postgres rm -rf /var/lib/postgresql/14/main
sudo -u postgres pg_basebackup -h pg-orders-primary.acme.internal -D /var/lib/postgresql/14/main -X stream -R -P
sudo systemctl start postgresql@14-main""")
PG_ESCALATE = section(
    "Escalation",
    "If both replicas lag and the primary's WAL volume fills up, page the database on-call through the "
    "PagerDuty service dba-orders before anything else.")
PG_LAG_2022 = page("Postgres replication lag", PG_INTRO, PG_CHECK, PG_REBUILD, PG_ESCALATE)
PG_MAINT_2022 = page(
    "Postgres maintenance",
    "Routine maintenance of the orders database cluster: vacuum, index rebuilds and replicas. Announce "
    "every task in the dba channel before starting it.",
    section("Vacuum",
            "Autovacuum keeps up on most tables; the order_events table needs a manual vacuum after the "
            "monthly purge job deletes old rows:",
            "psql -h pg-orders-primary.acme.internal -U postgres -d orders -c 'VACUUM (VERBOSE, ANALYZE) order_events'"),
    section("Reindex",
            "Bloated indexes slow the order lookup queries. Rebuild them concurrently so that writes are not "
            "blocked, one index at a time:",
            "psql -h pg-orders-primary.acme.internal -U postgres -d orders -c 'REINDEX INDEX CONCURRENTLY order_events_created_at_idx'"),
)

ING_ROLLBACK = section(
    "Roll back the ingress controller",
    "If the errors started with a controller upgrade, roll the ingress-nginx release back to the previous "
    "Helm revision and watch the 5xx rate fall on the edge dashboard:",
    """helm --kube-context prod-eu1 --namespace ingress-nginx history ingress-nginx --max 5
helm --kube-context prod-eu1 --namespace ingress-nginx rollback ingress-nginx 0 --wait --timeout 10m""")
ING_5XX_2022 = page(
    "Ingress 5xx errors",
    "The edge 5xx alert fires when more than two percent of requests through ingress-nginx fail for five "
    "minutes. Owner: traffic team.",
    section("Find the failing backends",
            "Split the errors by upstream service in the controller logs; a single service means the "
            "backend is broken, all services mean the controller is:",
            """kubectl --context prod-eu1 --namespace ingress-nginx logs deploy/ingress-nginx-controller --since=15m | awk '$9 >= 500 {print $NF}' | sort | uniq -c | sort -rn | head"""),
    ING_ROLLBACK,
    section("Escalation",
            "Page the traffic on-call through PagerDuty service edge-traffic when the error rate stays above "
            "five percent for fifteen minutes."),
)
ING_UPGRADES_2022 = page(
    "Ingress controller upgrades",
    "How the traffic team upgrades the ingress-nginx controller in the production clusters, one cluster "
    "per day, starting with prod-eu2.",
    section("Upgrade",
            "Bump the chart version in the platform-helm repository, let the pipeline render the diff, then "
            "apply it to one cluster and watch the edge dashboard for thirty minutes:",
            "helm --kube-context prod-eu2 --namespace ingress-nginx upgrade ingress-nginx ingress-nginx/ingress-nginx --version 4.7.1 --reuse-values --wait"),
)

ONCALL_PAGING = section(
    "Paging",
    "Alerts page the primary on-call through PagerDuty; after ten minutes without acknowledgement they "
    "escalate to the secondary and then to the engineering manager. Test your phone setup with:",
    "pd-send --service oncall-test --description 'paging test from the handbook' --severity warning")
ONCALL_HANDOVER = section(
    "Handover",
    "Shifts change on Monday at 10:00 Berlin time. Write the handover note in the oncall-handover channel "
    "with open incidents, silenced alerts and anything planned for the week:",
    "amtool --alertmanager.url=http://alertmanager.acme.internal:9093 silence query --within=168h")
ONCALL_CHANNEL = section(
    "Incident channel",
    "Open one Slack channel per incident with the incident bot; it invites the responders, pins the "
    "timeline and links the PagerDuty incident:",
    "/incident declare --severity sev2 --title 'checkout errors above five percent'")
ONCALL_STATUS = section(
    "Status page",
    "Post on the public status page within fifteen minutes of a customer-visible incident, and update it "
    "every thirty minutes until the incident is resolved:",
    "statusctl --page shop incident create --component checkout --status investigating")
ONCALL_2022 = page(
    "On-call handbook",
    "Everything a new on-call engineer needs in the first week: paging, handovers and incident "
    "communication. Read it before your first shift.",
    ONCALL_PAGING, ONCALL_HANDOVER, ONCALL_CHANNEL, ONCALL_STATUS)

BACKUP_TAKE = section(
    "Take a backup",
    "Nightly base backups of the orders database run from the backup host with pgBackRest; to take one "
    "by hand before risky maintenance:",
    """ssh pg-backup-01.acme.internal
sudo -u postgres pgbackrest --stanza=orders --type=full backup
sudo -u postgres pgbackrest --stanza=orders info""")
BACKUP_RETENTION = section(
    "Retention",
    "Full backups are kept for four weeks and WAL archives for fourteen days in the backups bucket; "
    "expire older ones by hand only when the bucket quota alert fires:",
    "sudo -u postgres pgbackrest --stanza=orders expire --repo1-retention-full=4")
BACKUPS_2022 = page(
    "Postgres backups",
    "Backups of the orders database: how they are taken, where they are kept and for how long. Owner: "
    "database team.",
    BACKUP_TAKE, BACKUP_RETENTION)
DRILL_RESTORE = section(
    "Restore into the drill host",
    "Every quarter, restore the latest backup into the drill host and check the row counts of the "
    "largest tables against the primary:",
    """ssh pg-drill-01.acme.internal
sudo systemctl stop postgresql@14-main
sudo -u postgres pgbackrest --stanza=orders --delta restore
sudo systemctl start postgresql@14-main""")
DRILL_REPORT = section(
    "Report the drill",
    "Record the restore duration and the row counts in the drill log; a restore slower than two hours "
    "breaks the recovery time objective and needs a ticket for the database team.")
DRILL_2022 = page(
    "Restore drill",
    "The quarterly restore drill proves that the orders backups can be restored within the recovery time "
    "objective of two hours.",
    DRILL_RESTORE, DRILL_REPORT)

NGINX_RELOAD_OLD = section(
    "Reload",
    "Test the configuration first, then reload the workers gracefully; open connections finish on the old "
    "workers and no request is dropped:",
    """ssh web-01.acme.internal
sudo nginx -t -c /etc/nginx/nginx.conf
sudo nginx -s reload""")
NGINX_RELOAD_BAD = section(
    "Reload",
    "Restart the service to load the new configuration; this drops open connections, so announce it in "
    "the web channel first:",
    """ssh web-01.acme.internal
sudo systemctl restart nginx --no-block""")
NGINX_LOGS = section(
    "Logs",
    "Access logs are in /var/log/nginx/access.log and rotate daily; error logs show the config file and "
    "line of a failed reload:",
    "sudo tail -n 200 /var/log/nginx/error.log")


def nginx_page(reload: str) -> str:
    return page("Reload nginx", "The shop's web tier runs nginx on the web-NN hosts behind the edge load "
                "balancers. Reload after every configuration change.", reload, NGINX_LOGS)


VAULT_UNSEAL_BODY = (
    ("Three of the five unseal key holders each enter their key share on every Vault node; the node "
     "unseals once the third share is in. Check the status in between:"),
    """export VAULT_ADDR=https://vault-01.acme.internal:8200
vault operator unseal
vault status -format=json | jq '.sealed, .progress'""")
VAULT_2022 = page(
    "Unseal Vault",
    "Vault seals itself after a restart or a host failure, and every secret read fails until it is "
    "unsealed. Owner: security engineering.",
    section("Unseal", *VAULT_UNSEAL_BODY),
    section("Check the audit log",
            "After unsealing, confirm the audit device writes again; Vault refuses requests when no audit "
            "device can write:",
            "sudo tail -n 20 /var/log/vault/audit.log | jq '.time, .type'"),
)

# ============================================================================ 1-3 renames


@pytest.mark.parametrize("mode", ["once", "nightly"])
def test_page_renamed_with_git_mv_then_edited_at_its_new_path(tmp_path, mode):
    """A page moved with `git mv` (content unchanged), edited two years later at its new path."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index, mode)
    c_add = repo.commit("2022-03-14T09:00:00+00:00", {"docs/kafka-consumer-lag.md": KAFKA_2022},
                        "Add the Kafka consumer lag runbook")
    c_mv = repo.mv("2023-04-03T13:30:00+00:00", {"docs/kafka-consumer-lag.md": "runbooks/kafka/consumer-lag.md"},
                   "Move runbooks out of docs/")
    assert repo.renames_in(c_mv) == {("docs/kafka-consumer-lag.md", "runbooks/kafka/consumer-lag.md"): 100}
    new = "runbooks/kafka/consumer-lag.md"
    c_edit = repo.commit("2025-05-19T10:00:00+00:00", {new: edit(
        KAFKA_2022, "--replicas=12", "--replicas=24").replace("(twelve for the orders topic)",
                                                              "(twenty-four for the orders topic since the 2025 split)")},
        "Orders topic has 24 partitions now")
    finish_controls(repo)

    out = analyse(repo.path, index)
    assert_clean_but_for_the_controls(out, "git mv then edit")
    # the renamed page keeps its history: an untouched section is as old as its text
    assert out.sections[(new, "Check the lag")]["changed_at"] == "2022-03-14T09:00:00Z"
    assert (out.sections[(new, "Scale the consumers")]["changed_at"], out.sections[(new, "Scale the consumers")]["commit"]) \
        == ("2025-05-19T10:00:00Z", c_edit)
    assert not [k for k in out.sections if k[0] == "docs/kafka-consumer-lag.md"]
    assert c_add


def test_page_renamed_and_edited_in_the_same_commit(tmp_path):
    """A rename with changes: git still pairs the two paths (~70% similar)."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index)
    old, new = "docs/es-cluster-red.md", "runbooks/elasticsearch/cluster-red.md"
    repo.commit("2022-06-07T08:00:00+00:00", {old: ES_2022}, "Add the Elasticsearch red cluster runbook")
    es_2024 = edit(ES_2022, "es-master-01.acme.internal:9200", "es-logging.acme.internal:9243")
    es_2024 = edit(es_2024, "--host es-master-01.acme.internal", "--host es-logging.acme.internal --port 9243")
    es_2024 = edit(es_2024, "unit_count\":14", "unit_count\":10")
    es_2024 = edit(es_2024, "and delete the oldest daily indices first:",
                   "and delete the oldest daily indices first; the index lifecycle policy should have done it:")
    c_mv = repo.mv("2024-02-20T15:00:00+00:00", {old: new}, "Move the ES runbook, new endpoint", edits={new: es_2024})
    renames = repo.renames_in(c_mv)
    assert list(renames) == [(old, new)] and 55 <= renames[(old, new)] <= 85, (
        f"precondition: git should see a rename with changes, got {renames}")
    finish_controls(repo)

    out = analyse(repo.path, index)
    assert_clean_but_for_the_controls(out, "rename with changes")
    # the section the rename did not touch keeps its 2022 date
    assert out.sections[(new, "Escalation")]["changed_at"] == "2022-06-07T08:00:00Z"
    assert out.sections[(new, "Find the unassigned shards")]["changed_at"] == "2024-02-20T15:00:00Z"


@pytest.mark.parametrize("mode", ["once", "nightly"])
def test_directory_renamed_then_some_pages_edited(tmp_path, mode):
    """docs/ becomes runbooks/ in one commit (three pages); two of them are edited later."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index, mode)
    repo.commit("2022-04-11T09:00:00+00:00", {"docs/dns/resolution-failures.md": DNS_2022}, "DNS runbook")
    repo.commit("2022-08-30T09:00:00+00:00", {"docs/tls/cert-rotation.md": TLS_2022}, "TLS rotation runbook")
    repo.commit("2022-10-05T09:00:00+00:00", {"docs/ci/runner-disk-full.md": CI_2022}, "CI runner disk runbook")
    c_mv = repo.mv("2023-09-14T12:00:00+00:00", {"docs": "runbooks"}, "Rename docs/ to runbooks/")
    assert len(repo.renames_in(c_mv)) == 3, repo.renames_in(c_mv)
    repo.commit("2024-05-06T09:00:00+00:00", {"runbooks/dns/resolution-failures.md": edit(
        DNS_2022, "--replicas=8", "--replicas=12")}, "CoreDNS: scale to 12")
    repo.commit("2025-02-17T09:00:00+00:00", {"runbooks/tls/cert-rotation.md": edit(
        TLS_2022, "ssh edge-01.acme.internal sudo systemctl reload haproxy",
        "ssh edge-01.acme.internal sudo systemctl reload haproxy\nssh edge-01.acme.internal sudo haproxy -c -f /etc/haproxy/haproxy.cfg")},
        "TLS: check the config after reload")
    finish_controls(repo)

    out = analyse(repo.path, index)
    assert_clean_but_for_the_controls(out, "directory rename")
    assert not [k for k in out.sections if k[0].startswith("docs/")]
    assert out.sections[("runbooks/ci/runner-disk-full.md", "Free space")]["changed_at"] == "2022-10-05T09:00:00Z"
    assert out.sections[("runbooks/dns/resolution-failures.md", "Check CoreDNS")]["changed_at"] == "2022-04-11T09:00:00Z"


# ============================================================================ 4 sections moved between pages


def test_section_moved_to_another_page_in_one_commit(tmp_path):
    """"Rebuild a replica" leaves the replication-lag page for the maintenance page in one commit
    (unchanged, as in prometheus-operator/runbooks "Move guidelines section to add-runbook"); both
    pages are edited elsewhere a year later."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index)
    a, b = "runbooks/postgres/replication-lag.md", "runbooks/postgres/maintenance.md"
    repo.commit("2022-05-02T10:00:00+00:00", {a: PG_LAG_2022}, "Postgres replication lag runbook")
    repo.commit("2022-05-20T10:00:00+00:00", {b: PG_MAINT_2022}, "Postgres maintenance page")
    b_2024 = PG_MAINT_2022 + "\n" + PG_REBUILD
    repo.commit("2024-02-06T11:00:00+00:00", {a: drop(PG_LAG_2022, PG_REBUILD), b: b_2024},
                "Move 'Rebuild a replica' to the maintenance page")
    # later edits on both pages, not to the moved text (an edit to it would hide the move from a
    # near-copy comparison)
    repo.commit("2025-01-13T11:00:00+00:00", {b: edit(b_2024, "VACUUM (VERBOSE, ANALYZE) order_events",
                                                      "VACUUM (VERBOSE, ANALYZE, PARALLEL 4) order_events"),
                                              a: edit(drop(PG_LAG_2022, PG_REBUILD), "dba-orders", "dba-orders-primary")},
                "Parallel vacuum; new PagerDuty service")
    finish_controls(repo)

    out = analyse(repo.path, index)
    assert_clean_but_for_the_controls(out, "section moved in one commit")
    assert (b, "Rebuild a replica") in out.sections and (a, "Rebuild a replica") not in out.sections


@pytest.mark.parametrize("mode", ["once", "nightly"])
def test_section_moved_in_two_commits_two_days_apart(tmp_path, mode):
    """The rollback section is removed from the 5xx page one day and added to the upgrades page two
    days later (two pull requests). Nightly: a crawl runs in between and sees it gone."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index, mode)
    a, b = "runbooks/ingress/5xx-errors.md", "runbooks/ingress/controller-upgrades.md"
    repo.commit("2022-07-04T09:00:00+00:00", {a: ING_5XX_2022}, "Ingress 5xx runbook")
    repo.commit("2022-07-18T09:00:00+00:00", {b: ING_UPGRADES_2022}, "Ingress upgrades page")
    repo.commit("2024-06-10T16:00:00+00:00", {a: drop(ING_5XX_2022, ING_ROLLBACK)}, "Remove the rollback section")
    repo.commit("2024-06-12T09:30:00+00:00", {b: ING_UPGRADES_2022 + "\n" + ING_ROLLBACK},
                "Rollback lives with the upgrades now")
    finish_controls(repo)

    out = analyse(repo.path, index)
    assert_clean_but_for_the_controls(out, "section moved in two commits")
    assert (b, "Roll back the ingress controller") in out.sections



def test_copy_taken_days_before_its_source_is_revised_in_place_is_stale(tmp_path):
    """A team copies the ingress 5xx runbook on a Tuesday; on Friday the platform team revises its
    rollback section in place (a new command). The text did not move: it went on under its heading
    and the copy was left behind, so the copy is stale however close the dates are. Every alert page
    of the set ends with a "TODO" mitigation that the revision replaces on several pages at once:
    text that many pages say is no one's and links nowhere."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index)
    src, copy = "runbooks/ingress/5xx-errors.md", "teams/web/ingress-5xx.md"
    todo = section("Mitigation", "TODO")
    others = {f"runbooks/ingress/{n}.md": page(f"Ingress {n}", f"The {n} alert of the ingress controller.", todo)
              for n in ("latency", "saturation", "cert-expiry")}
    repo.commit("2022-07-04T09:00:00+00:00", {src: ING_5XX_2022 + "\n" + todo, **others}, "Ingress runbooks")
    repo.commit("2022-07-05T10:00:00+00:00", {copy: ING_5XX_2022.replace("# ", "# Web team: ", 1) + "\n" + todo},
                "Web team: our copy of the ingress 5xx runbook")
    revised = edit(ING_5XX_2022, ING_ROLLBACK, section(
        "Roll back the ingress controller",
        "Controller releases are rolled out by Argo CD now: revert the release commit in the edge-config "
        "repository and let the application sync; never run helm against production by hand.",
        """argocd app history edge-ingress --grpc-web
argocd app rollback edge-ingress --prune --timeout 600"""))
    fixed = section("Mitigation", "Scale the controller out before anything else.")
    repo.commit("2022-07-08T16:00:00+00:00", {src: revised + "\n" + fixed,
                                              **{p: t.replace("TODO", "Scale the controller out before anything else.")
                                                 for p, t in others.items()}},
                "Rollbacks go through Argo Rollouts; mitigations written")
    finish_controls(repo)

    out = analyse(repo.path, index)
    got = [f for f in out.serious if f.path == copy and f.heading == "Roll back the ingress controller"]
    assert got and got[0].newer and got[0].newer["path"] == src, (
        f"the copy left behind by an in-place revision three days later is not flagged:\n{show(out.result.findings)}")
    assert not [f for f in out.serious if f.path in (src, *others)], show(out.serious)
    assert_controls_flagged(out, "copy taken days before an in-place revision")


# ============================================================================ 5 splits and merges


def test_page_split_into_two_pages(tmp_path):
    """The on-call handbook is split into a paging page and an incident-communication page in one
    commit, the handbook deleted; one moved section is edited later."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index)
    old = "runbooks/oncall-handbook.md"
    paging, comms = "runbooks/oncall/paging.md", "runbooks/oncall/incident-comms.md"
    repo.commit("2022-02-21T09:00:00+00:00", {old: ONCALL_2022}, "On-call handbook")
    paging_2023 = page("Paging and handover", "How pages reach the on-call engineer and how shifts change hands.",
                       ONCALL_PAGING, ONCALL_HANDOVER)
    comms_2023 = page("Incident communication", "Where to talk during an incident and what customers see.",
                      ONCALL_CHANNEL, ONCALL_STATUS)
    repo.commit("2023-10-09T14:00:00+00:00", {old: None, paging: paging_2023, comms: comms_2023},
                "Split the on-call handbook")
    repo.commit("2025-04-01T09:00:00+00:00", {comms: edit(comms_2023, "--severity sev2", "--severity sev1 --private")},
                "Incident bot: private channels for sev1")
    finish_controls(repo)

    out = analyse(repo.path, index)
    assert_clean_but_for_the_controls(out, "page split")
    assert {(paging, "Paging"), (paging, "Handover"), (comms, "Incident channel"), (comms, "Status page")} <= set(out.sections)


def test_two_pages_merged_into_one(tmp_path):
    """Backups and the restore drill become one Postgres backup page; both old pages are deleted."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index)
    backups, drill, merged = "runbooks/backup/postgres-backups.md", "runbooks/backup/restore-drill.md", \
        "runbooks/backup/postgres.md"
    repo.commit("2022-03-28T09:00:00+00:00", {backups: BACKUPS_2022}, "Backups page")
    repo.commit("2022-11-14T09:00:00+00:00", {drill: DRILL_2022}, "Restore drill page")
    merged_2024 = page("Postgres backups and restores",
                       "Backups of the orders database and the quarterly drill that proves they restore. "
                       "Owner: database team.", BACKUP_TAKE, BACKUP_RETENTION, DRILL_RESTORE, DRILL_REPORT)
    repo.commit("2024-09-30T10:00:00+00:00", {backups: None, drill: None, merged: merged_2024},
                "Merge the backup pages")
    repo.commit("2025-06-23T10:00:00+00:00", {merged: edit(merged_2024, "--repo1-retention-full=4",
                                                           "--repo1-retention-full=6")}, "Keep six full backups")
    finish_controls(repo)

    out = analyse(repo.path, index)
    assert_clean_but_for_the_controls(out, "pages merged")
    assert {(merged, h) for h in ("Take a backup", "Retention", "Restore into the drill host", "Report the drill")} \
        <= set(out.sections)


# ============================================================================ 6 revert, 7 heading renamed


def test_revert_restores_the_earlier_text_dated_by_the_revert(tmp_path):
    """The reload procedure is changed, and `git revert` restores the 2022 text two days later: the
    section is current and its last change is the revert."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index)
    p = "runbooks/web/nginx-reload.md"
    repo.commit("2022-02-14T09:00:00+00:00", {p: nginx_page(NGINX_RELOAD_OLD)}, "nginx reload runbook")
    c_bad = repo.commit("2024-05-14T17:00:00+00:00", {p: nginx_page(NGINX_RELOAD_BAD)}, "Restart instead of reload")
    c_revert = repo.revert("2024-05-16T08:20:00+00:00", c_bad)
    assert (repo.path / p).read_text() == nginx_page(NGINX_RELOAD_OLD)
    finish_controls(repo)

    out = analyse(repo.path, index)
    assert_clean_but_for_the_controls(out, "revert")
    sec = out.sections[(p, "Reload")]
    assert "sudo nginx -s reload" in sec["text"]
    assert (sec["changed_at"], sec["commit"]) == ("2024-05-16T08:20:00Z", c_revert), (
        f"the reverted section must be dated by the revert {short(c_revert)}, got {sec['changed_at']} {sec['commit']}")
    assert not [f for f in out.result.findings if f.path == p], show(f for f in out.result.findings if f.path == p)
    # what the guard hands an agent carries the same provenance
    guard = Guard(index, embedder=get_embedder(FAKE_MODEL), config=GuardConfig(record_events=False))
    try:
        hits = [r for r in guard.search(sec["text"], k=5, policy="annotate") if r.section["id"] == sec["id"]]
        assert hits and hits[0].verdict == "ok", [(r.section["path"], r.section["heading"], r.verdict) for r in hits]
        prov = hits[0].to_json()["provenance"]
        assert (prov["changed_at"], prov["commit"]) == ("2024-05-16T08:20:00Z", c_revert)
    finally:
        guard.close()


def test_heading_renamed_on_a_page(tmp_path):
    """"## Unseal" becomes "## Unseal the Vault cluster" with the same text; a year later the text
    under the new heading changes."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index)
    p = "runbooks/security/vault-unseal.md"
    repo.commit("2022-09-05T09:00:00+00:00", {p: VAULT_2022}, "Vault unseal runbook")
    v2023 = edit(VAULT_2022, "## Unseal\n", "## Unseal the Vault cluster\n")
    repo.commit("2023-03-20T09:00:00+00:00", {p: v2023}, "Clearer heading")
    repo.commit("2024-11-04T09:00:00+00:00", {p: edit(v2023, "vault-01.acme.internal:8200", "vault.acme.internal:8200")},
                "Unseal through the load balancer name")
    finish_controls(repo)

    out = analyse(repo.path, index)
    assert_clean_but_for_the_controls(out, "heading renamed")
    assert (p, "Unseal the Vault cluster") in out.sections


# ============================================================================ 8 siblings from one template

SERVICES = {
    # name: (title, team, namespace, cluster, db host, port, queue, created)
    "checkout-api": ("Service Runbook", "checkout", "checkout", "prod-eu1", "pg-checkout.acme.internal", 8080,
                     "checkout-events", "2022-05-09T09:00:00+00:00"),
    "payments-api": ("Service Runbook", "payments", "payments", "prod-eu1", "pg-payments.acme.internal", 8443,
                     "payment-intents", "2023-01-16T09:00:00+00:00"),
    "ledger-worker": ("ledger-worker", "finance platform", "ledger", "prod-eu2", "pg-ledger.acme.internal", 9000,
                      "ledger-postings", "2023-08-21T09:00:00+00:00"),
    "notifier-worker": ("notifier-worker", "growth", "notify", "prod-eu2", "pg-notify.acme.internal", 9100,
                        "email-sends", "2024-04-02T09:00:00+00:00"),
}


def service_readme(name: str, since: str = "1h", tail: int = 200, db: str | None = None) -> str:
    title, team, ns, cluster, db_host, port, queue, _ = SERVICES[name]
    db = db or db_host
    return page(
        title,
        f"{name} is owned by the {team} team and runs in the `{ns}` namespace of the {cluster} cluster. "
        "This page follows the service runbook template: logging, troubleshooting pointers and scaling.",
        section("Logging",
                f"Logs of {name} are shipped to the `{ns}-*` indices in Kibana and kept for fourteen days. "
                "To follow the live pods or read the logs of a crashed container:",
                f"""kubectl --context {cluster} --namespace {ns} logs deploy/{name} --since={since} --tail={tail}
kubectl --context {cluster} --namespace {ns} logs deploy/{name} --previous"""),
        section("Troubleshooting Pointers",
                f"Start from the {name} dashboard in Grafana, then check the dependencies it calls: the "
                f"database on {db} and the `{queue}` queue.",
                f"""curl -fsS http://{name}.{ns}.svc.cluster.local:{port}/healthz
psql -h {db} -p 5432 -U {name.replace('-', '_')} -c 'select 1'
kubectl --context {cluster} --namespace {ns} get events --sort-by=.lastTimestamp"""),
        section("Scaling",
                f"{name} scales on CPU between two and ten replicas. For a planned traffic peak raise the "
                "floor of the autoscaler the day before:",
                f"kubectl --context {cluster} --namespace {ns} patch hpa {name} -p '{{\"spec\":{{\"minReplicas\":4}}}}'"),
    )


def test_sibling_pages_generated_from_one_template(tmp_path):
    """services/<name>/README.md for four services: same file name, same headings, each with its own
    commands and hosts, created at different dates, two of them edited later."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index)
    for name, spec in sorted(SERVICES.items(), key=lambda kv: kv[1][-1]):
        repo.commit(spec[-1], {f"services/{name}/README.md": service_readme(name)}, f"{name}: runbook from the template")
    repo.commit("2024-11-05T09:00:00+00:00", {"services/ledger-worker/README.md": service_readme(
        "ledger-worker", db="pg-ledger-v2.acme.internal")}, "ledger: new database host")
    repo.commit("2025-03-11T09:00:00+00:00", {"services/checkout-api/README.md": service_readme(
        "checkout-api", since="3h", tail=500)}, "checkout: longer log window")
    finish_controls(repo)

    out = analyse(repo.path, index)
    assert_clean_but_for_the_controls(out, "template siblings")


# ============================================================================ 9 stale copies next to real history


def test_copies_follow_their_source_across_renames_and_moves(tmp_path):
    """Copies made in 2022 of pages that then move: a copy of a renamed page that never changed is at
    most a duplicate of it; a copy of a renamed page that changed later is superseded by the page at its
    *new* path; a copy of a section that moved unchanged to another page is at most a duplicate."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index)
    repo.commit("2022-03-07T09:00:00+00:00", {"docs/kafka-consumer-lag.md": KAFKA_2022,
                                              "docs/es-cluster-red.md": ES_2022,
                                              "runbooks/postgres/replication-lag.md": PG_LAG_2022,
                                              "runbooks/postgres/maintenance.md": PG_MAINT_2022}, "Runbooks")
    repo.commit("2022-03-21T09:00:00+00:00", {
        "teams/orders/kafka-consumer-lag.md": edit(KAFKA_2022, "# Kafka consumer lag", "# Orders team: Kafka consumer lag"),
        "teams/obs/es-cluster-red.md": edit(ES_2022, "# Elasticsearch cluster red", "# Obs team: Elasticsearch cluster red"),
        "teams/reporting/replica-rebuild.md": page(
            "Reporting: rebuild a Postgres replica",
            "Copied from the platform runbook so the reporting on-call has it at hand.", PG_REBUILD),
    }, "Team copies")
    repo.mv("2023-04-03T13:30:00+00:00", {"docs/kafka-consumer-lag.md": "runbooks/kafka/consumer-lag.md",
                                          "docs/es-cluster-red.md": "runbooks/elasticsearch/cluster-red.md"},
            "Move runbooks out of docs/")
    repo.commit("2024-02-06T11:00:00+00:00", {
        "runbooks/postgres/replication-lag.md": drop(PG_LAG_2022, PG_REBUILD),
        "runbooks/postgres/maintenance.md": PG_MAINT_2022 + "\n" + PG_REBUILD}, "Move 'Rebuild a replica'")
    repo.commit("2025-08-18T09:00:00+00:00", {"runbooks/elasticsearch/cluster-red.md": edit(
        ES_2022, "_cluster/reroute?retry_failed=true'", "_cluster/reroute?retry_failed=true&dry_run=false' --max-time 30")
        .replace("http://es-master-01.acme.internal:9200/_cluster/reroute", "https://es-logging.acme.internal:9243/_cluster/reroute")},
        "ES: retry through the TLS endpoint")
    finish_controls(repo)

    out = analyse(repo.path, index)
    # the copy of the changed (and renamed) ES page: superseded by the page at its new path
    es = [f for f in out.serious if f.path == "teams/obs/es-cluster-red.md" and f.heading == "Retry the allocation"]
    assert any(f.kind in ("superseded", "contradicted") and f.newer
               and (f.newer["path"], f.newer["heading"]) == ("runbooks/elasticsearch/cluster-red.md", "Retry the allocation")
               for f in es), f"copy of a renamed, then changed page:\n{show(out.result.findings)}"
    # everything else: nothing above info (copies of text that is current, at another address)
    bad = [f for f in out.serious if f.path not in CONTROL_COPIES
           and not (f.path == "teams/obs/es-cluster-red.md" and f.heading == "Retry the allocation")]
    bad += [f for f in out.serious if f.path == X_COPY and f.heading != "Fail over"]
    assert not bad, f"copies of text that lives on at a new address are not stale:\n{show(bad)}"
    for path, heading, home in [
        ("teams/orders/kafka-consumer-lag.md", "Check the lag", "runbooks/kafka/consumer-lag.md"),
        ("teams/reporting/replica-rebuild.md", "Rebuild a replica", "runbooks/postgres/maintenance.md"),
    ]:
        fs = [f for f in out.result.findings if (f.path, f.heading) == (path, heading)]
        assert all(f.kind == "duplicate" and f.newer and f.newer["path"] == home for f in fs), (
            f"{path} §{heading} copies text that now lives in {home}: a duplicate of it at most:\n{show(fs)}")
        assert out.verdicts[(path, heading)][0] != "block", show_verdicts(out, [(path, heading)])
    # the pages at their new addresses are the originals: no finding (not even a duplicate) sends
    # their readers to a team copy, and the guard serves them as they are
    to_copies = [f for f in out.result.findings if f.newer and f.newer["path"].startswith("teams/")
                 and not f.path.startswith("teams/")]
    assert not to_copies, f"the originals, renamed or moved, are not copies of the team copies:\n{show(to_copies)}"
    homes = ("runbooks/kafka/consumer-lag.md", "runbooks/elasticsearch/cluster-red.md", "runbooks/postgres/maintenance.md")
    not_ok = [k for k, (v, _, _) in out.verdicts.items() if k[0] in homes and v != "ok"]
    assert not not_ok, f"the guard must serve the originals as they are:\n{show_verdicts(out, not_ok)}"
    assert_controls_flagged(out, "copies of moved pages")


# ============================================================================ bad past versions

BAD_PAST_VERSIONS = {
    "impossible-date": "---\nowner: '@acme/queue-team'\nupdated: 2023-02-30\n---\n\n",
    "impossible-datetime": "---\nowner: '@acme/queue-team'\nlast_updated: 2023-02-31T10:00:00Z\n---\n\n",
    "broken-yaml": "---\nowner: '@acme/queue-team\ntitle: [Drain a RabbitMQ node\ntags: {queue: rabbitmq\n---\n\n",
}

RABBIT = page(
    "Drain a RabbitMQ node",
    "The order queue cluster has three RabbitMQ nodes. Drain a node before patching or rebooting it, so "
    "that its queue leaders move to the other two nodes first.",
    section("Drain",
            "Put the node in maintenance mode; its quorum queue leaders move away and clients reconnect to "
            "the other nodes within a minute:",
            """ssh rabbit-02.acme.internal
sudo rabbitmq-upgrade drain
sudo rabbitmqctl list_queues name leader --formatter pretty_table"""),
    section("Revive",
            "After the reboot, take the node out of maintenance mode and wait until every quorum queue has "
            "three online members again:",
            """sudo rabbitmq-upgrade revive
sudo rabbitmq-queues check_if_node_is_quorum_critical"""),
)
RABBIT_GOOD_FRONT = "---\nowner: '@acme/queue-team'\nupdated: 2023-03-01\n---\n\n"


@pytest.mark.parametrize("bad", [*BAD_PAST_VERSIONS, "undecodable-bytes"])
def test_one_bad_past_version_is_a_warning_not_the_end_of_the_crawl(tmp_path, bad):
    """A past version of a page has an impossible date, broken YAML front matter or bytes that are
    not UTF-8; its current version is fine. The crawl completes, names the page in a warning, and
    every page is indexed."""
    repo = Repo(tmp_path / "wiki")
    p = "runbooks/queues/rabbitmq-drain.md"
    if bad == "undecodable-bytes":
        past: str | bytes = (RABBIT_GOOD_FRONT + RABBIT.replace("within a minute", "within a minute \xb1 10 s")
                             ).encode("latin-1")
    else:
        past = BAD_PAST_VERSIONS[bad] + RABBIT.replace("within a minute", "within two minutes")
    repo.commit("2022-11-02T09:00:00+00:00", {"runbooks/queues/overview.md": page(
        "Queues", "Which queue system each service uses and who owns it; RabbitMQ for orders, Kafka for events.",
        section("Owners", "RabbitMQ belongs to the queue team, Kafka to the data platform team; page them through "
                          "their PagerDuty services queue-oncall and data-oncall."))}, "Queue overview")
    repo.commit("2023-02-27T09:00:00+00:00", {p: past}, "RabbitMQ drain runbook")
    repo.commit("2023-03-01T09:00:00+00:00", {p: RABBIT_GOOD_FRONT + RABBIT}, "Fix the front matter")
    repo.commit("2024-01-15T09:00:00+00:00", {"runbooks/queues/kafka.md": KAFKA_2022}, "Kafka lag runbook")

    index = tmp_path / "index"
    summary = crawl_repo(repo.path, index)  # must not raise
    warned = [w for w in summary.warnings if w.get("path") == p or p in w.get("message", "")]
    assert warned, f"the bad past version of {p} must be a warning naming the page; warnings: {summary.warnings}"
    with Store.open(index) as st:
        docs = {d["path"] for d in st.documents()}
        assert docs == {p, "runbooks/queues/overview.md", "runbooks/queues/kafka.md"}, docs
        secs = {(s["path"], s["heading"]) for s in st.sections()}
        assert {(p, "Drain"), (p, "Revive")} <= secs, secs
        drain = next(s for s in st.sections("path = ?", [p]) if s["heading"] == "Drain")
        assert "within a minute" in drain["text"] and drain["changed_at"] == "2023-03-01T09:00:00Z"
        result = run_checks(st, config(NO_AGE_RULES), now=NOW, record=False)  # must not raise either
    assert not [f for f in result.findings if level_at_least(f.level, "warning")], show(result.findings)
    assert_index_consistent(index, FAKE_MODEL)


def test_bad_past_version_warning_names_the_commit(tmp_path):
    repo = Repo(tmp_path / "wiki")
    p = "runbooks/queues/rabbitmq-drain.md"
    c_bad = repo.commit("2023-02-27T09:00:00+00:00", {p: BAD_PAST_VERSIONS["impossible-date"] + RABBIT}, "Drain runbook")
    repo.commit("2023-03-01T09:00:00+00:00", {p: RABBIT_GOOD_FRONT + RABBIT}, "Fix the date")
    summary = crawl_repo(repo.path, tmp_path / "index")
    assert any((w.get("path") == p or p in w["message"]) and (c_bad[:7] in w["message"] or w.get("commit") == c_bad)
               for w in summary.warnings), summary.warnings


# ============================================================================ end to end with the real model


def test_real_model_end_to_end_rename_move_and_stale_copy(tmp_path, real_embedder):
    """all-MiniLM-L6-v2 over one repository with a rename (then an edit), a section moved between pages
    and the two stale copies: only the stale copies are flagged and blocked."""
    index = tmp_path / "index"
    repo = new_repo(tmp_path, index)
    repo.commit("2022-03-14T09:00:00+00:00", {"docs/kafka-consumer-lag.md": KAFKA_2022,
                                              "runbooks/postgres/replication-lag.md": PG_LAG_2022,
                                              "runbooks/postgres/maintenance.md": PG_MAINT_2022}, "Runbooks")
    repo.mv("2023-04-03T13:30:00+00:00", {"docs/kafka-consumer-lag.md": "runbooks/kafka/consumer-lag.md"}, "Move")
    repo.commit("2024-02-06T11:00:00+00:00", {
        "runbooks/postgres/replication-lag.md": drop(PG_LAG_2022, PG_REBUILD),
        "runbooks/postgres/maintenance.md": PG_MAINT_2022 + "\n" + PG_REBUILD}, "Move 'Rebuild a replica'")
    repo.commit("2025-05-19T10:00:00+00:00", {"runbooks/kafka/consumer-lag.md": edit(
        KAFKA_2022, "--replicas=12", "--replicas=24")}, "24 partitions")
    finish_controls(repo)

    out = analyse(repo.path, index, real_embedder)
    assert out.summary.model == real_embedder.model_id
    assert_clean_but_for_the_controls(out, "real model")
