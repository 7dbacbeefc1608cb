"""What each request asks for: prompt text (synthetic or from a dataset) and class priority.

Synthetic prompts are deterministic per arrival: ``"Request <idx>:"`` followed by about
``prompt_tokens - 4`` common English words (each a single token in the usual BPE vocabularies)
drawn from the seed stream ``PROMPT_TEXT`` at ``idx`` (:mod:`loadgen.seeds`).  Distinct words from the first token on
keep a server's prefix cache from trivially hitting.  Dataset prompts are the row chosen by the
plan (``arrival.prompt_row``); the dataset is read once (:func:`loadgen.dataset.load_dataset`).
"""

from __future__ import annotations

import numpy as np

from loadgen.config import Scenario
from loadgen.dataset import load_dataset
from loadgen.plan import Arrival
from loadgen.seeds import PROMPT_TEXT, stream_rng

_WORD_TEXT = """the of and to in is it you that he was for on are with as his they be at one have this
from or had by not word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no most
people my over know water than call first who may down side been now find any new work part
take get place made live where after back little only round man year came show every good me
give our under name very through just form sentence great think say help low line differ turn
cause much mean before move right boy old too same tell does set three want air well also play
small end put home read hand port large spell add even land here must big high such follow act
why ask men change went light kind off need house picture try us again animal point mother world
near build self earth father head stand own page should country found answer school grow study
still learn plant cover food sun four between state keep eye never last let thought city tree
cross farm hard start might story saw far sea draw left late run while press close night real
life few north open seem together next white children begin got walk example ease paper group
always music those both mark often letter until mile river car feet care second book carry took
science eat room friend began idea fish mountain stop once base hear horse cut sure watch color
face wood main enough plain girl usual young ready above ever red list though feel talk bird soon
body dog family direct pose leave song measure door product black short numeral class wind
question happen complete ship area half rock order fire south problem piece told knew pass since
top whole king space heard best hour better true during hundred five remember step early hold
west ground interest reach fast verb sing listen six table travel less morning ten simple several
vowel toward war lay against pattern slow center love person money serve appear road map rain
rule govern pull cold notice voice unit power town fine certain fly fall lead cry dark machine
note wait plan figure star box noun field rest correct able pound done beauty drive stood
contain front teach week final gave green quick develop ocean warm free minute strong special
mind behind clear tail produce fact street inch multiply nothing course stay wheel full force
blue object decide surface deep moon island foot system busy test record boat common gold
possible plane age dry wonder laugh thousand ago ran check game shape equate miss brought heat
snow tire bring yes distant fill east paint language among"""
_WORDS = np.array(_WORD_TEXT.split())
_PREFIX_TOKENS = 4  # "Request 123:" is about four tokens


class Workload:
    """Prompt text and priority per arrival; cheap to build (a dataset is read here once)."""

    def __init__(self, scenario: Scenario) -> None:
        self.seed = scenario.seed
        self.rows: list[str] | None = None
        if scenario.workload.dataset is not None:
            self.rows = load_dataset(scenario.workload.dataset)
        self._priority = {c.name: c.priority for c in scenario.workload.classes}

    @property
    def dataset_rows(self) -> int | None:
        """The number of dataset prompts (None: synthetic prompts), for :class:`~loadgen.plan.Plan`."""
        return None if self.rows is None else len(self.rows)

    def prompt_text(self, arrival: Arrival) -> str:
        """The dataset row's prompt, or deterministic synthetic text of ~``prompt_tokens`` tokens."""
        if self.rows is not None and arrival.prompt_row is not None:
            return self.rows[arrival.prompt_row % len(self.rows)]
        n = max(1, arrival.prompt_tokens - _PREFIX_TOKENS)
        rng = stream_rng(self.seed, PROMPT_TEXT, arrival.idx)
        words = _WORDS[rng.integers(0, len(_WORDS), size=n)]
        return f"Request {arrival.idx}: " + " ".join(words.tolist())

    def priority(self, cls: str) -> int | None:
        """The class's priority (None: not set, or unknown class)."""
        return self._priority.get(cls)


__all__ = ["Workload"]
