"""SAVs Studio in the browser: `python app.py [--model NAME] [--host 127.0.0.1] [--port 7860]`
(`--help` lists every option). The app itself is the package `studio` (studio/app.py assembles
the page from studio/steps/); this file is the entry point a checkout and a Hugging Face Space
(`app_file: app.py`) run, and it names the app's callbacks for scripts that drive it in-process.
"""

if __name__ == "__main__":
    from studio.__main__ import run

    run()  # a bad setting read at start: one line, exit status 2
else:
    from studio.app import *  # noqa: F403 (build_demo, launch_kwargs, main, each callback)
    from studio.app import main  # noqa: F401
