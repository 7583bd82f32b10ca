// Package scripts holds the repository's shell scripts (make run's demo,
// the installer, the release and Ollama builds); its Go tests run them as a
// user would.
package scripts
