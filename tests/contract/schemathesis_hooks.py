"""Schemathesis hooks of the contract run (``SCHEMATHESIS_HOOKS``): the contract's own formats.

A time zone is a string of format ``iana-time-zone`` (a name of the IANA tz database; the
contract does not inline the ~600 names as an enum). Schemathesis knows no such format, so its
positive cases draw from the same tzdata names the API validates against; negative cases
(non-strings, wrong shapes) are still generated and must be refused.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

from aircast_api.models import TIMEZONE_FORMAT, TIMEZONES

schemathesis.openapi.format(TIMEZONE_FORMAT, st.sampled_from(TIMEZONES))
