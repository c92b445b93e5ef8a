// The viewer's choices this browser remembers (wrap, time stamps); private windows and blocked
// storage keep them for the page only.
const KEY = "hg-log-viewer";
const DEFAULTS = { wrap: false, timestamps: "off" };

function stored() {
  try {
    return { ...DEFAULTS, ...JSON.parse(localStorage.getItem(KEY) || "{}") };
  } catch (error) {
    return { ...DEFAULTS };
  }
}

export const prefs = {
  values: stored(),

  get(name) {
    return this.values[name];
  },

  set(name, value) {
    this.values[name] = value;
    try {
      localStorage.setItem(KEY, JSON.stringify(this.values));
    } catch (error) { /* this page only */ }
  },
};
