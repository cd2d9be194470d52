"""`make demo` (`python -m services.demo`): the mission's two stories driven through the gateway's public API alone
against a running suite (`make run`), the sandbox playing the buyer's phone and WeChat Pay's review. Each step prints
who does what, the answer's key fields and its trace id; the run ends with the traces read back from Jaeger, the
ledger check, a one-line summary per story and the waterfall of story 1's WeChat checkout.

`stories.story_one` / `stories.story_two` return what they did (ids, states, balances, trace ids) for callers that
check it (tests/e2e); `client.Demo` is the HTTP session and printer they take.
"""

from services.demo.cli import main
from services.demo.client import Demo, DemoFailure, Endpoints, Login, ServiceNames
from services.demo.stories import StoryOne, StoryTwo, ledger_check, story_one, story_two

__all__ = [
    "Demo",
    "DemoFailure",
    "Endpoints",
    "Login",
    "ServiceNames",
    "StoryOne",
    "StoryTwo",
    "ledger_check",
    "main",
    "story_one",
    "story_two",
]
