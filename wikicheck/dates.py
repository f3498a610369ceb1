"""Parse the many ways wikis write dates into one form: ISO 8601 in UTC, seconds precision."""

from __future__ import annotations

import datetime as dt
import email.utils
import re

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso(ts: float | dt.datetime | dt.date) -> str:
    if isinstance(ts, (int, float)):
        d = dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)
    elif isinstance(ts, dt.datetime):
        d = ts if ts.tzinfo else ts.replace(tzinfo=dt.timezone.utc)
        d = d.astimezone(dt.timezone.utc)
    else:
        d = dt.datetime(ts.year, ts.month, ts.day, tzinfo=dt.timezone.utc)
    return d.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_date(value: object) -> str | None:
    """Return ISO UTC for a date-like value, or None when it is not a date."""
    if value is None or value == "":
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return iso(value)
    s = str(value).strip()
    if _DATE_ONLY.match(s):
        try:
            return iso(dt.date.fromisoformat(s))
        except ValueError:
            return None
    try:
        return iso(dt.datetime.fromisoformat(s.replace("Z", "+00:00")))
    except ValueError:
        pass
    try:  # RFC 2822 / HTTP dates: "Wed, 21 Oct 2015 07:28:00 GMT"
        return iso(email.utils.parsedate_to_datetime(s))
    except (TypeError, ValueError, IndexError):
        pass
    for fmt in ("%Y/%m/%d", "%d %B %Y", "%B %d, %Y", "%b %d, %Y", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return iso(dt.datetime.strptime(s, fmt))
        except ValueError:
            continue
    return None


def to_datetime(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def now_iso() -> str:
    return iso(dt.datetime.now(dt.timezone.utc))
