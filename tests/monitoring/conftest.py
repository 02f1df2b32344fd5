"""The decision-log fixtures (a credit-risk team, its model and users) serve the monitoring tests too."""

from tests.decisions.conftest import log

__all__ = ["log"]
