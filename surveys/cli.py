"""Survey steps of `flask orbit demo`."""

from core.cli import DEMO_STEPS
from surveys.demo import load_demo_surveys

DEMO_STEPS.append(load_demo_surveys)
