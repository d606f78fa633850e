"""The chroma provider: the facts and documents stores on Chroma (chromadb >= 1.0.15, < 2).

Embedded (a persistent directory, default ``<data_dir>/chroma``) or a Chroma server (``url``, or
``host``/``port``/``ssl``). See docs/providers/chroma.md for every config key and how records are
laid out.
"""

from memio.providers.chroma._base import ChromaConfig
from memio.providers.chroma.documents import ChromaDocumentStore
from memio.providers.chroma.facts import ChromaFactStore

__all__ = ["ChromaConfig", "ChromaDocumentStore", "ChromaFactStore"]
