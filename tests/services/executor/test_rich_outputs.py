"""Rich outputs: MIME bundles for results, display(), figures and tables."""

from __future__ import annotations

from codeact import Client

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_open_figures_are_shown_at_the_end_of_the_cell(acme: Client) -> None:
    with acme.session() as s:
        r = s.run(
            "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.title('squares')\nNone"
        )
        assert r.ok, r.error
        assert len(r.displays) == 1
        figure = r.displays[0]
        assert figure.binary["image/png"].startswith(PNG_MAGIC)
        assert figure.plain.startswith("<Figure size")
        assert "Fontconfig" not in r.stderr
        # Shown figures are closed, as Jupyter's inline backend does.
        assert s.run("len(plt.get_fignums())").result.plain == "0"  # type: ignore[union-attr]


def test_show_sends_the_figure_in_order_with_the_output(acme: Client) -> None:
    with acme.session() as s:
        events = list(
            s.stream(
                "import matplotlib.pyplot as plt\n"
                "print('before')\nplt.plot([1, 2])\nplt.show()\nprint('after')"
            )
        )
        kinds = [e.WhichOneof("event") for e in events]
        outputs = [e.output.text for e in events if e.WhichOneof("event") == "output"]
        assert "".join(outputs) == "before\nafter\n"
        display_at = kinds.index("display")
        assert kinds.index("output") < display_at < len(kinds) - 1 - kinds[::-1].index("output")
        assert events[display_at].display.data.binary["image/png"].startswith(PNG_MAGIC)


def test_dataframes_render_as_html_and_text(acme: Client) -> None:
    with acme.session() as s:
        r = s.run("import pandas as pd\npd.DataFrame({'city': ['Oslo', 'Lima'], 'n': [1, 2]})")
        assert r.result is not None
        assert "<table" in r.result.text["text/html"] and "Oslo" in r.result.text["text/html"]
        assert "Lima" in r.result.plain


def test_display_and_custom_representations(acme: Client) -> None:
    with acme.session() as s:
        r = s.run(
            "class Card:\n"
            "    def _repr_markdown_(self):\n        return '**card**'\n"
            "    def _repr_mimebundle_(self, include=None, exclude=None):\n"
            "        return {'application/json': {'suit': 'hearts'},\n"
            "                'image/png': b'\\x89PNG-ish'}\n"
            "    def _repr_html_(self):\n        raise ValueError('broken')\n"
            "display(Card(), 42)\nprint('done')"
        )
        assert r.ok and r.stdout == "done\n"
        card, number = r.displays
        assert card.text["text/markdown"] == "**card**"
        assert card.text["application/json"] == '{"suit": "hearts"}'
        assert card.binary["image/png"] == b"\x89PNG-ish"
        assert "text/html" not in card.text  # a broken _repr_html_ only loses that form
        assert number.plain == "42" and not number.binary


def test_an_interrupt_during_display_is_deferred_not_torn(acme: Client) -> None:
    with acme.session() as s:
        r = s.run("import time\nfor i in range(100000):\n    display(i)", timeout=0.5)
        assert r.status.name == "TIMEOUT" and r.interpreter_alive
        assert all(d.plain.isdigit() for d in r.displays)
        assert s.run("1").ok
