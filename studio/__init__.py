"""SAVs Studio, the app wing: the Gradio page over the `savs` method library.

app.py      the page assembled from its steps, and its launch (`main`: python app.py, python -m
            studio, savs-studio)
session.py  one session's state: classes, prompt, model choice, classifier, undo (no model)
records.py  the last classification / evaluation, the last delete or replace (for Undo)
actions.py  `Studio`: a session with all its actions, one module a kind (no gradio):
datasets.py   import a dataset or an example task, export the labeled examples
fitting.py    extract and fit, refit from kept activations, the k curve
inspecting.py any head's numbers for the inspector (rank, accuracy per class, cosines)
classifying.py  classify (+ explain), evaluate (+ baselines)
budget.py   what a session holds (memory, stored pixels) and its budget's refusals
lifetime.py SessionRegistry: time to live and one memory budget for all sessions
pool.py     ModelPool: models by name, loaded once, lent to sessions batch by batch
server.py   what all sessions share: the pool, the activation cache, the start model, the
            session registry, and the error / progress helpers every callback uses
fairness.py the per-session gate on model calls and the cap on queued events
inputs.py   what a visitor's uploads and webcam frames become (checked) before an action
views.py    what the page shows, drawn from one session's state
lesson.py   the lesson views: why a head was kept, its vector map, the vote re-tallied
steps/      one module per step of the page (classes, train, classify, inspect, evaluate, share,
            first_visit)
"""
