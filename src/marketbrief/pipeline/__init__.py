"""What a run computes: news providers, sentiment models, price providers and their analysis.

    news.py       Article, NewsProvider (dir, rss, yahoo, finnhub), gather_news
    sentiment.py  ModelScore, SentimentModel, combine: the port every model speaks
    headline.py   HeadlineModel: scores each headline, aggregates a symbol's into one opinion
    models.py     the local headline models by name (MARKETBRIEF_LEXICON), the default
    lexicon.py    VADER with finance lexicons, Loughran-McDonald
    rules.py      the finance rule layer: a metric paired with its movement
    linear.py     the learned model (hashed n-grams, numpy, weights/ made from data/tfns)
    llm.py        an optional LLM behind any OpenAI-compatible chat endpoint
    analysis.py   SymbolAnalysis, analyse_symbol: one symbol's news + models -> Prediction
    prices.py     Close, PriceProvider (dir, stooq)
    feeds.py      the runner's two ports (Analyst, PriceFeed) built from settings
    http.py       the one outbound HTTP client

Outbound HTTP goes through `http` only. Point in time: a provider only returns what was
published in (since, until], so a backfilled run sees only what was knowable then.
"""
