# The two commands a newcomer needs (see README.md):
#   make site   - build/start the local stack and run playbooks/site.yml on it
#   make test   - everything CI runs: lint, sanity, pytest, molecule
.PHONY: site test bootstrap stack-up stack-down lint sanity pytest molecule

site:
	hack/run-site

test:
	hack/test

bootstrap:
	hack/bootstrap

stack-up:
	hack/stack up

stack-down:
	hack/stack down
