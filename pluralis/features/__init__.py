"""Features of responses, shared by the analyses, the simulation and the reward models.

* :mod:`.phrases` — the phrase lists and patterns (one per concept: refusal, de-anthropomorphism,
  self-identification, hedging, stance cues, lists);
* :mod:`.response` — :func:`~pluralis.features.response.response_features`, PRISM's response
  features (App. T.8) and the style features of the persona simulation, from the text;
* :mod:`.embeddings` — sentence embeddings (all-MiniLM-L6-v2, bundled, offline);
* :mod:`.openvino_encoder` — the encoder on OpenVINO's CPU runtime, the default backend on a CPU.

Import from the submodules; this package re-exports nothing.
"""
