// The dashboard's entry module: each import owns one behaviour.
import "./csrf.js";
import "./toasts.js";
import "./rows.js";
import "./dialogs.js";
import "./copy.js";
import "./time.js";
import "./attempts.js";
import "./bell.js";
import "./charts.js";
