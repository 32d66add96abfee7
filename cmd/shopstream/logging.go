package main

import (
	"context"
	"io"
	"log/slog"
	"os"
)

// Log formats (SHOPSTREAM_LOG_FORMAT).
const (
	logFormatAuto = "auto" // text on a terminal, JSON otherwise (containers, files, pipes)
	logFormatText = "text"
	logFormatJSON = "json"
)

// libraryComponents are the "component" values of client-library loggers:
// connectors/kafka hands franz-go (kslog) a logger With("component",
// "kafka"). Their lines are kept at warn and above unless the level is
// debug, where the full detail is what was asked for.
var libraryComponents = map[string]bool{"kafka": true}

// newLogger is the process logger: w is stderr, isTerminal says whether it
// is a terminal (decides format auto).
func newLogger(w io.Writer, isTerminal bool, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if format == logFormatText || (format == logFormatAuto && isTerminal) {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	if level > slog.LevelDebug {
		h = quietLibraries{Handler: h, min: slog.LevelWarn}
	}
	return slog.New(h)
}

// stderrIsTerminal reports whether stderr is a character device (a
// terminal), without a dependency.
func stderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// quietLibraries raises the level of loggers that carry a library
// component to min; every other logger is unchanged.
type quietLibraries struct {
	slog.Handler
	min     slog.Level
	library bool
}

func (h quietLibraries) Enabled(ctx context.Context, l slog.Level) bool {
	if h.library && l < h.min {
		return false
	}
	return h.Handler.Enabled(ctx, l)
}

func (h quietLibraries) WithAttrs(attrs []slog.Attr) slog.Handler {
	library := h.library
	for _, a := range attrs {
		if a.Key == "component" && libraryComponents[a.Value.String()] {
			library = true
		}
	}
	return quietLibraries{Handler: h.Handler.WithAttrs(attrs), min: h.min, library: library}
}

func (h quietLibraries) WithGroup(name string) slog.Handler {
	return quietLibraries{Handler: h.Handler.WithGroup(name), min: h.min, library: h.library}
}
