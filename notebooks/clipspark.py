"""ClipSpark from Jupyter: starts a JVM with ClipSpark on its classpath (through JPype) and converts between
Java and Python values, so a notebook reads as calls to the evaluation API that ``bin/clip evaluate`` uses.

Needs Debian's python3 with ``python3-jpype`` (and ``python3-ipykernel``, ``jupyter-nbconvert`` or
``jupyter-notebook`` to run notebooks); nothing from PyPI. The Java side is ``dev.clipspark.evaluation``:
``ClipEvaluator``, ``ZeroShotClassifier``, ``Prompts`` and ``Notebook`` (the small entry point these helpers call).

Environment (all optional but the checkpoint; relative paths are relative to the repository):

==========================  ===============================================================================
``CLIPSPARK_CHECKPOINT``    a training output directory (its newest checkpoint) or a ``checkpoints/step-N``
                            directory, e.g. ``demo-output/train`` after ``bin/clip demo``
``CLIPSPARK_CHECKPOINT_B``  the second checkpoint of notebook 03 (default: the first)
``CLIPSPARK_DATASET``       ``KIND:PATH`` (default ``idx:/usr/share/datasets/fashion-mnist``)
``CLIPSPARK_MAX_ROWS``      test rows evaluated (default 500; 0: all)
``CLIPSPARK_IMAGES``        a directory of images notebook 01 classifies (default: a few dataset images)
``CLIPSPARK_LIMBER``        notebook 04: a ``train-limber`` output directory (its newest checkpoint) or a
                            ``checkpoints/step-N`` directory, e.g. ``demo-output/limber`` after ``bin/clip demo``
``CLIPSPARK_CAPTION_DATASET`` notebook 04: captioned images, ``KIND:PATH`` (default ``CLIPSPARK_DATASET``), e.g.
                            ``table:demo-output/eval-captions.csv`` (the demo's unseen images with captions)
``CLIPSPARK_OUT``           where reports and images go (default ``$TMPDIR/clipspark-notebooks``)
``CLIPSPARK_CLASSPATH``     the JVM's classpath (default: the application jar and ``spark-jobs/target/spark-lib``,
                            as ``bin/clip`` runs it; build them with ``mvn -B -DskipTests package``)
``CLIPSPARK_DRIVER_MEMORY`` the JVM's heap (default 4g)
``CLIPSPARK_MASTER``        the Spark master (default ``local[2]``)
``CLIPSPARK_JAVA_OPTS``     more JVM flags, space-separated
==========================  ===============================================================================
"""

import base64
import glob
import html
import json
import os
import re
import tempfile
from html.parser import HTMLParser

import jpype

#: The repository (this file is in its notebooks/ directory).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Spark's module flags for Java 17: pom.xml's spark.java17.flags, as bin/clip passes them.
JAVA17_FLAGS = [
    "-XX:+IgnoreUnrecognizedVMOptions",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
    "--add-opens=java.base/sun.security.action=ALL-UNNAMED",
    "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
    "--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "-Djdk.reflect.useDirectMethodHandle=false",
]

DATASET_DEFAULT = "idx:/usr/share/datasets/fashion-mnist"
MAX_ROWS_DEFAULT = 500
DRIVER_MEMORY_DEFAULT = "4g"
MASTER_DEFAULT = "local[2]"


# ---- settings from the environment


def _path(value):
    """A local path relative to the repository (the kernel runs in notebooks/, wherever Jupyter started), or a
    URI (``hdfs:``, ``file:``, ...) or absolute path as it is."""
    if os.path.isabs(value) or re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:", value):
        return value
    return os.path.normpath(os.path.join(ROOT, value))


def checkpoint():
    """The checkpoint to evaluate: ``CLIPSPARK_CHECKPOINT``."""
    value = os.environ.get("CLIPSPARK_CHECKPOINT", "").strip()
    if not value:
        raise RuntimeError(
            "Cannot pick a checkpoint: set CLIPSPARK_CHECKPOINT to a training output directory or a "
            "checkpoints/step-N directory (bin/clip demo writes demo-output/train) before starting Jupyter")
    return _path(value)


def checkpoint_b():
    """The second checkpoint of a comparison: ``CLIPSPARK_CHECKPOINT_B``, else the first."""
    value = os.environ.get("CLIPSPARK_CHECKPOINT_B", "").strip()
    return _path(value) if value else checkpoint()


def dataset():
    """The evaluation dataset, ``KIND:PATH``: ``CLIPSPARK_DATASET``."""
    value = os.environ.get("CLIPSPARK_DATASET", "").strip() or DATASET_DEFAULT
    kind, sep, path = value.partition(":")
    return kind + sep + _path(path) if sep and path else value


def limber():
    """The LiMBeR model of notebook 04: ``CLIPSPARK_LIMBER``."""
    value = os.environ.get("CLIPSPARK_LIMBER", "").strip()
    if not value:
        raise RuntimeError(
            "Cannot pick a LiMBeR model: set CLIPSPARK_LIMBER to a train-limber output directory or a "
            "checkpoints/step-N directory (bin/clip demo writes demo-output/limber) before starting Jupyter")
    return _path(value)


def caption_dataset():
    """Captioned images, ``KIND:PATH``: ``CLIPSPARK_CAPTION_DATASET``, else ``CLIPSPARK_DATASET``."""
    value = os.environ.get("CLIPSPARK_CAPTION_DATASET", "").strip()
    if not value:
        return dataset()
    kind, sep, path = value.partition(":")
    return kind + sep + _path(path) if sep and path else value


def max_rows():
    """Test rows evaluated at most (0: all): ``CLIPSPARK_MAX_ROWS``."""
    value = os.environ.get("CLIPSPARK_MAX_ROWS", "").strip()
    if not value:
        return MAX_ROWS_DEFAULT
    try:
        rows = int(value)
    except ValueError:
        raise ValueError("Cannot use CLIPSPARK_MAX_ROWS=%s: must be a whole number, 0 for all rows" % value) from None
    if rows < 0:
        raise ValueError("Cannot use CLIPSPARK_MAX_ROWS=%s: must be at least 0" % value)
    return rows


def images_dir():
    """A directory of images to classify: ``CLIPSPARK_IMAGES``; None when unset."""
    value = os.environ.get("CLIPSPARK_IMAGES", "").strip()
    return _path(value) if value else None


def output_dir(name):
    """A directory for one notebook's files: ``CLIPSPARK_OUT/name``, created."""
    base = os.environ.get("CLIPSPARK_OUT", "").strip() or os.path.join(tempfile.gettempdir(), "clipspark-notebooks")
    path = os.path.join(_path(base), name)
    os.makedirs(path, exist_ok=True)
    return path


# ---- the JVM


def classpath():
    """``CLIPSPARK_CLASSPATH`` (``:``-separated), else the application jar and spark-lib, as bin/clip uses."""
    given = os.environ.get("CLIPSPARK_CLASSPATH", "").strip()
    if given:
        return [p for p in given.split(os.pathsep) if p]
    target = os.path.join(ROOT, "spark-jobs", "target")
    jars = sorted(glob.glob(os.path.join(target, "clipspark-spark-jobs-*-app.jar")))
    lib = os.path.join(target, "spark-lib")
    if not jars or not os.path.isdir(lib):
        raise RuntimeError(
            "Cannot start ClipSpark: no application jar in %s; build it with `mvn -B -DskipTests package` in %s "
            "(or run bin/clip once), or set CLIPSPARK_CLASSPATH" % (target, ROOT))
    return [jars[0]] + sorted(glob.glob(os.path.join(lib, "*.jar")))


def _jpype_support_jar():
    """JPype's own classes (org.jpype.jar), which the JVM needs on its classpath: pip's JPype keeps the jar beside
    its package; Debian's python3-jpype installs it as /usr/share/java/org.jpype.jar and does not add it itself."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(jpype.__file__)))
    for candidate in (os.path.join(here, "org.jpype.jar"), "/usr/share/java/org.jpype.jar"):
        if os.path.isfile(candidate):
            return [candidate]
    return []


def start():
    """Starts the JVM once per Python process (a JVM cannot be restarted); later calls do nothing."""
    if jpype.isJVMStarted():
        return
    memory = os.environ.get("CLIPSPARK_DRIVER_MEMORY", "").strip() or DRIVER_MEMORY_DEFAULT
    args = list(JAVA17_FLAGS) + ["-Xmx" + memory]
    log4j = os.path.join(ROOT, "conf", "log4j2.properties")
    if os.path.isfile(log4j):
        args.append("-Dlog4j2.configurationFile=" + log4j)
    args += os.environ.get("CLIPSPARK_JAVA_OPTS", "").split()
    jpype.startJVM(*args, classpath=classpath() + _jpype_support_jar(), convertStrings=False)


def java(name):
    """A Java class by name (the JVM started first), e.g. ``java("dev.clipspark.evaluation.Prompts")``."""
    start()
    return jpype.JClass(name)


class _Api:
    """The evaluation classes, looked up once the JVM runs."""

    def __getattr__(self, name):
        packages = {
            "ClipEvaluator": "dev.clipspark.evaluation.ClipEvaluator",
            "ZeroShotClassifier": "dev.clipspark.evaluation.ZeroShotClassifier",
            "Prompts": "dev.clipspark.evaluation.Prompts",
            "Notebook": "dev.clipspark.evaluation.Notebook",
            "Evaluation": "dev.clipspark.evaluation.Evaluation",
            "EvalOptions": "dev.clipspark.evaluation.EvalOptions",
            "HtmlReport": "dev.clipspark.evaluation.report.HtmlReport",
        }
        if name not in packages:
            raise AttributeError(name)
        cls = java(packages[name])
        setattr(self, name, cls)
        return cls


#: ``api.ClipEvaluator``, ``api.Prompts``, ``api.Notebook``, ...: the Java classes notebooks use.
api = _Api()


# ---- Java <-> Python values


def java_list(values):
    """A ``java.util.List`` of Python strings (class names, templates, texts)."""
    start()
    out = jpype.JClass("java.util.ArrayList")()
    for v in values:
        out.add(jpype.JString(str(v)))
    return out


def java_map(settings):
    """A ``java.util.Map`` of ``eval.*`` settings: strings, ints, floats, booleans or lists of them."""
    start()
    out = jpype.JClass("java.util.LinkedHashMap")()
    for key, value in (settings or {}).items():
        out.put(jpype.JString(key), _java_value(value))
    return out


def _java_value(value):
    if isinstance(value, bool):
        return jpype.JClass("java.lang.Boolean")(value)
    if isinstance(value, int):
        return jpype.JClass("java.lang.Long")(value)
    if isinstance(value, float):
        return jpype.JClass("java.lang.Double")(value)
    if isinstance(value, (list, tuple)):
        out = jpype.JClass("java.util.ArrayList")()
        for v in value:
            out.add(_java_value(v))
        return out
    return jpype.JString(str(value))


def to_list(array):
    """A Java array (float[], int[]) as a Python list."""
    return [x for x in array]


def to_lists(matrix):
    """A Java ``float[][]`` (embeddings, probabilities) as a list of lists of Python floats."""
    return [[float(x) for x in row] for row in matrix]


def strings(java_strings):
    """A Java list of strings as Python strings."""
    return [str(s) for s in java_strings]


def image_bytes(paths):
    """The files as a ``java.util.List<byte[]>`` for ``ClipEvaluator.encodeImages``."""
    start()
    out = jpype.JClass("java.util.ArrayList")()
    for p in paths:
        out.add(api.Notebook.imageBytes(str(p)))
    return out


# ---- Spark and the evaluation jobs


def spark(master=None):
    """The notebook's Spark session (one per JVM): ``master``, else ``CLIPSPARK_MASTER``, else ``local[2]``."""
    master = master or os.environ.get("CLIPSPARK_MASTER", "").strip() or MASTER_DEFAULT
    return api.Notebook.localSpark(master)


def evaluate(session, task, checkpoint_dir, dataset_spec, out, settings=None):
    """Runs ``clip evaluate --task TASK`` in this JVM; the report (report.json) as a dict."""
    text = api.Notebook.evaluate(session, task, checkpoint_dir, dataset_spec, out, java_map(settings))
    return json.loads(str(text))


def zeroshot(session, checkpoint_dir, dataset_spec, out, settings=None):
    """Zero-shot evaluation; the report as a dict (``eval.compare-single-template``: ``--compare-templates``)."""
    return evaluate(session, "zeroshot", checkpoint_dir, dataset_spec, out, settings)


def evaluate_captioning(session, limber_dir, dataset_spec, out, settings=None):
    """Runs ``clip evaluate --task captioning`` in this JVM (BLEU-4 and CIDEr-D of the model and of the two
    baselines); the report (report.json) as a dict. ``settings``: ``eval.*`` and ``lm.decode.*`` keys."""
    text = api.Notebook.evaluateCaptioning(session, limber_dir, dataset_spec, out, java_map(settings))
    return json.loads(str(text))


def caption(session, limber_dir, images_spec, out, settings=None):
    """Runs ``clip caption`` in this JVM; ``{captions: [{key, caption, reference}], parquet, page, skipped,
    decoding}``."""
    text = api.Notebook.caption(session, limber_dir, images_spec, out, java_map(settings))
    return json.loads(str(text))


def sample_images(session, dataset_spec, count, out, settings=None):
    """Writes ``count`` test images of the dataset to ``out``; ``[{key, label, class_name, path}]``."""
    text = api.Notebook.sampleImages(session, dataset_spec, count, out, java_map(settings))
    return json.loads(str(text))


# ---- showing things


class Table:
    """A table that shows as HTML in Jupyter and as aligned text elsewhere (and in ``print``)."""

    def __init__(self, headers, rows, caption=None):
        self.headers = [str(h) for h in headers]
        self.rows = [list(r) for r in rows]
        self.caption = caption

    @staticmethod
    def _cell(v):
        if isinstance(v, float):
            return "%.4f" % v
        return "" if v is None else str(v)

    def _repr_html_(self):
        parts = ["<table>"]
        if self.caption:
            parts.append("<caption>%s</caption>" % html.escape(self.caption))
        parts.append("<tr>%s</tr>" % "".join("<th>%s</th>" % html.escape(h) for h in self.headers))
        for r in self.rows:
            cells = []
            for v in r:
                if isinstance(v, RawHtml):
                    cells.append("<td>%s</td>" % v.markup)
                else:
                    align = ' style="text-align:right"' if isinstance(v, (int, float)) else ""
                    cells.append("<td%s>%s</td>" % (align, html.escape(self._cell(v))))
            parts.append("<tr>%s</tr>" % "".join(cells))
        parts.append("</table>")
        return "".join(parts)

    def __str__(self):
        text = [[self._cell(v) for v in r] for r in self.rows]
        widths = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(self.headers)]
        lines = [self.caption] if self.caption else []
        lines.append("  ".join(h.ljust(w) for h, w in zip(self.headers, widths)))
        lines.append("  ".join("-" * w for w in widths))
        for r in text:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        return "\n".join(lines)

    __repr__ = __str__


class RawHtml:
    """Markup a :class:`Table` cell shows as is (an image); ``text`` stands for it in plain text."""

    def __init__(self, markup, text=""):
        self.markup = markup
        self.text = text

    def __str__(self):
        return self.text

    __repr__ = __str__

    def _repr_html_(self):
        return self.markup


def image_html(path, size=84):
    """An image file as an inline ``<img>`` (data URL), scaled to ``size`` pixels without smoothing."""
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    kind = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    kind = "jpeg" if kind == "jpg" else kind
    return RawHtml('<img src="data:image/%s;base64,%s" width="%d" height="%d" style="image-rendering: pixelated">'
                   % (kind, data, size, size), os.path.basename(path))


def jpeg_html(base64_jpeg, size=96):
    """A base64 JPEG (a report's ``image_jpeg_base64``) as an inline ``<img>``; a dash when there is none."""
    if not base64_jpeg or not re.fullmatch(r"[A-Za-z0-9+/\s]*={0,2}\s*", base64_jpeg):
        return "-"
    return RawHtml('<img src="data:image/jpeg;base64,%s" width="%d" style="image-rendering: pixelated">'
                   % ("".join(base64_jpeg.split()), size), "[image]")


class _Charts(HTMLParser):
    """Collects report.html's chart images: ``<img class="chart" id=... alt=... src="data:image/png;base64,...">``."""

    def __init__(self):
        super().__init__()
        self.charts = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img" and "chart" in (a.get("class") or "").split():
            src = a.get("src") or ""
            prefix = "data:image/png;base64,"
            if src.startswith(prefix):
                self.charts.append({"id": a.get("id", ""), "title": a.get("alt", ""),
                                    "png": base64.b64decode("".join(src[len(prefix):].split()))})


def charts(report_html):
    """The charts of a report.html: ``[{id, title, png}]`` (``png``: the image's bytes), in page order."""
    with open(report_html, encoding="utf-8") as f:
        parser = _Charts()
        parser.feed(f.read())
    return parser.charts


def show_charts(report_html, only=None, width=None):
    """Shows a report's charts inline, each under its title; ``only``: ids (or id parts) to show."""
    from IPython.display import Image, Markdown, display
    shown = 0
    for c in charts(report_html):
        if only and not any(o in c["id"] for o in only):
            continue
        display(Markdown("**%s**" % c["title"]))
        display(Image(data=c["png"], format="png", width=width))
        shown += 1
    return shown


def side_by_side(items, width=480):
    """Shows ``[(caption, png bytes)]`` next to each other."""
    from IPython.display import HTML, display
    cells = "".join(
        '<figure style="display:inline-block; margin:0 1em 1em 0; vertical-align:top">'
        '<figcaption><b>%s</b></figcaption><img src="data:image/png;base64,%s" style="max-width:%dpx"></figure>'
        % (html.escape(caption), base64.b64encode(png).decode("ascii"), width) for caption, png in items)
    display(HTML("<div>%s</div>" % cells))


def show_report(report_html, height=900):
    """Shows the whole report.html inline, in a frame (its styles stay inside it)."""
    from IPython.display import display
    with open(report_html, encoding="utf-8") as f:
        page = f.read()
    display(RawHtml('<div><iframe srcdoc="%s" style="width:100%%; height:%dpx; border:1px solid #ddd"></iframe></div>'
                    % (html.escape(page, quote=True), height), report_html))
