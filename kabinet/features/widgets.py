"""The sitting widget: every sitting room carries a widget with the sitting's page (agenda,
drafts, the live vote) and, with `sittings.video_url` set, its video conference
(appservice/sittings/widgets.py); the widget pages are web/widgets/. It sets the plan on the
sittings feature's room worker, so it must come after `Sittings` (and its web part after
web.sittings and web.votes) in `default_features()`. No CLI, no workers of its own."""

from __future__ import annotations

from collections.abc import Sequence

from appservice.sittings.widgets import WidgetPlan
from kabinet.features import CommonOptions, Subparsers
from kabinet.features.sittings import Sittings
from kabinet.installation import Installation
from kabinet.secrets import ensure_secrets
from web import widgets as web_widgets


def plan(kabinet: Installation) -> WidgetPlan:
    s = kabinet.settings
    secret = ensure_secrets(s.data_dir)["session_secret"]
    return WidgetPlan(public_url=s.web.base_url, video_url=s.sittings.video_url,
                      bot_mxid=kabinet.hs.bot_mxid, secret=secret.encode())


def frame_ancestors(kabinet: Installation) -> Sequence[str]:
    """`web.widget_frame_ancestors` (default: any web origin and Element Desktop;
    web/widgets/common.py says why framing these pages is safe)."""
    return tuple(kabinet.settings.web.widget_frame_ancestors) or web_widgets.DEFAULT_FRAME_ANCESTORS


class Widgets:
    name = "widgets"

    def install(self, kabinet: Installation) -> None:
        # The features installed so far (kabinet.wiring.Kabinet's list; wiring imports features).
        sittings = [f for f in getattr(kabinet, "features", ()) if isinstance(f, Sittings)]
        if not sittings:
            raise LookupError("the widgets feature comes after the sittings feature")
        sittings[0].rooms.widgets = plan(kabinet)
        deps = web_widgets.Deps(frame_ancestors=frame_ancestors(kabinet))
        kabinet.web_setups.append(lambda app: web_widgets.setup(app, deps))

    def cli(self, sub: Subparsers, common: CommonOptions) -> None:
        """No commands: the widgets follow the config and the sittings."""
        del sub, common
