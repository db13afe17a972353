"""The Gradio app's pieces, one module per step (app.py assembles them).

server.py   what all sessions share: the model pool, the activation cache, the start model,
            the session registry, and the error / progress helpers every callback uses
views.py    what the page shows, drawn from one session's state
classes.py  step 1: class cards (any number, gr.render), uploads, webcam recording, import
train.py    step 2: extract, k and scoring, the head heatmap
classify.py step 3: classify one input (with where its heads looked), and the live webcam loop
inspect.py  why these heads: the head picker / top-heads row click (head inspector), auto k
evaluate.py evaluate a labeled test set
share.py    export / import the classifier and the dataset
"""
