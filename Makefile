# Two commands for a fresh clone (nothing needed beyond Python 3.10+):
#   make lab    set up .venv and open the notebooks in JupyterLab
#   make test   set up .venv and run every test (unit, notebooks under nbval, browser); SITE=1 also builds
#               the course site from the executed notebooks and checks it in a browser (CI runs `make test SITE=1`)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch. Where a CPU wheel of torch==2.13.0 is on the pip path (as on the CI machine),
# nothing more is needed; elsewhere on Linux add the CPU index: make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH       ?= torch==2.13.0
TORCH_INDEX ?=
SITE        ?=
STAMP      := $(VENV)/.installed
SITE_STAMP := $(VENV)/.installed-site

.PHONY: lab test test-slow site slides assignments explore figures bench bench-notebooks vendor clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[lab,test,instructor]"
	touch $(STAMP)

# the site's packages (Sphinx, MyST-NB, the book theme, an offline MathJax): only for those who build it
$(SITE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[lab,test,instructor,site]"
	touch $(SITE_STAMP)

# JupyterLab will not start as root unless told to; a container's, a cloud VM's or a lab image's shell often is root
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)
# extra JupyterLab / Voila options, e.g. make lab LAB_ARGS="--port=9999 --no-browser"
LAB_ARGS ?=
VOILA_ARGS ?=

lab: $(STAMP)
	$(if $(ROOT_FLAG),@echo "running as root (a container or a VM?): starting JupyterLab with --allow-root")
	$(BIN)/jupyter lab notebooks/ $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP) $(if $(SITE),$(SITE_STAMP))
	SITE=$(SITE) DDPM_EDU_TORCH="$(TORCH)" DDPM_EDU_TORCH_INDEX="$(TORCH_INDEX)" bash scripts/run_tests.sh $(BIN)

# the three-seed check of every claim the experiment notebooks make, at the classroom budget (about 12 min on a
# 2-core CPU machine)
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow tests/test_claims_slow.py

# the course site into build/site: executes every notebook in classroom mode (DDPM_EDU_FAST=1 for short runs)
site: $(SITE_STAMP)
	$(BIN)/python scripts/build_site.py

# for instructors: one reveal.js deck per notebook into build/slides, offline, the explorers live; from the notebooks
# the last `make test` executed (build/executed) when they are there, else executed here in classroom mode
slides: $(SITE_STAMP)
	$(BIN)/python -m ddpm_edu slides build/slides $(if $(wildcard build/executed/explorers.ipynb),--executed build/executed)

# for instructors: the exercises as an nbgrader course directory in build/course (then nbgrader, in that folder)
assignments: $(STAMP)
	$(BIN)/python -m ddpm_edu assignments build/course

# the explorers as a standalone page, for a projector (Voila)
explore: $(STAMP)
	$(BIN)/voila notebooks/explorers.ipynb $(VOILA_ARGS)

# the README's pictures, regenerated from the package
figures: $(STAMP)
	$(BIN)/python scripts/make_figures.py

bench: $(STAMP)
	$(BIN)/python -m ddpm_edu bench
	$(BIN)/python scripts/bench_explorers.py

# every notebook in classroom mode, quiet and then beside a busy process, with the textbook step's speed (~10 min)
bench-notebooks: $(STAMP)
	$(BIN)/python -m ddpm_edu bench --notebooks

# the explorers' chart library (uPlot), pinned, from the npm registry into ddpm_edu/static/vendor (needs a network)
vendor:
	$(PYTHON) scripts/vendor_js.py

clean:
	rm -rf $(VENV) runs build
