"""Local detectors: text normalisation, structured PII and secrets, topic lexicons and small
linear classifiers whose weights ship in this package. Nothing here touches the network."""
