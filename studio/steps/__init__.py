"""The page's steps, one module each: classes, train, classify, inspect, evaluate, share."""
