"""
URL canonicalization: pure, shared by dedupe and the URL transform.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


__all__ = ["DEFAULT_PORTS", "TRACKING_PARAMETERS", "canonicalize_url"]

#: Query parameters removed by :func:`canonicalize_url` (``utm_*`` and a few other prefixes
#: too).
TRACKING_PARAMETERS = frozenset(
    {
        "__s",
        "_hsenc",
        "_hsmi",
        "dclid",
        "fbclid",
        "gbraid",
        "gclid",
        "igsh",
        "igshid",
        "li_fat_id",
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "msclkid",
        "oly_anon_id",
        "oly_enc_id",
        "rb_clickid",
        "ref_src",
        "ref_url",
        "s_cid",
        "si",
        "spm",
        "ttclid",
        "twclid",
        "vero_id",
        "wbraid",
        "yclid",
    }
)
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in TRACKING_PARAMETERS or low.startswith(_TRACKING_PREFIXES)


def canonicalize_url(url: str, /) -> str:
    """
    Return a canonical form of *url*: scheme and host lower-cased, default port, credentials,
    fragment and tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ...) removed, an empty
    path made ``/``. The order of the remaining parameters is kept (it can matter to the site).

    Text that is not an absolute http(s) URL comes back unchanged.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        return url
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))
