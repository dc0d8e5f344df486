"""What a run computes: news providers, sentiment models, price providers and their analysis.

    news.py       Article, NewsProvider (dir, rss, yahoo, finnhub), gather_news
    sentiment.py  ModelScore, SentimentModel, combine: the port every model speaks
    lexicon.py    VADER with finance lexicons (the always-available model), Loughran-McDonald
    llm.py        an optional LLM behind any OpenAI-compatible chat endpoint
    analysis.py   SymbolAnalysis, analyse_symbol: one symbol's news + models -> Prediction
    prices.py     Close, PriceProvider (dir, stooq)
    feeds.py      the runner's two ports (Analyst, PriceFeed) built from settings
    http.py       the one outbound HTTP client

Outbound HTTP goes through `http` only. Point in time: a provider only returns what was
published in (since, until], so a backfilled run sees only what was knowable then.
"""
