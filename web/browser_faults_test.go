package web

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// countRows counts the table's rows of kind whose text includes want.
func countRows(kind, want string) string {
	return `[...document.querySelectorAll("tr.k-` + kind + `")].filter(tr => tr.textContent.includes(` + jsString(want) + `)).length`
}

// A latency fault added from the page, then switched off from its switch:
// the panel shows it off (still listed), the events say so, and the next
// message goes through without a delay event; changed and switched on
// again, it acts again.
func TestBrowserFaultSwitchOffFromThePage(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	_, addr := a.startEcho(sid, nil)
	a.openClient(sid, addr)
	openSession(t, ctx, a, sid)
	waitPanelSettled(t, ctx)
	step(t, ctx, "add a latency fault from the server's panel",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("li[data-testid=server] details.faults").open = true`),
		chromedp.SetValue(`li[data-testid=server] [data-testid=fault-type]`, "latency"),
		chromedp.SetValue(`li[data-testid=server] [data-testid=fault-direction]`, "upstream"),
		chromedp.SendKeys(`li[data-testid=server] [data-testid=fault-attributes]`, "latency_ms=30"),
		chromedp.Click(`li[data-testid=server] [data-testid=fault-add]`),
		chromedp.WaitVisible(`[data-testid=fault][data-name=latency][data-enabled=true]`),
	)
	waitRow(t, ctx, "fault", "added")
	waitPanelSettled(t, ctx)
	step(t, ctx, "send from the page client",
		chromedp.SendKeys(`[data-testid=send-input]`, "one"),
		chromedp.Click(`[data-testid=send]`),
	)
	waitRow(t, ctx, "fault", "delayed 3 bytes by 30 ms")

	step(t, ctx, "switch the fault off",
		chromedp.Click(`[data-testid=fault][data-name=latency] [data-testid=fault-toggle]`),
		chromedp.WaitVisible(`[data-testid=fault][data-name=latency][data-enabled=false]`),
	)
	if got := evalIn[string](t, ctx, `document.querySelector("[data-testid=fault][data-name=latency] [data-testid=fault-toggle]").textContent`); got != "off" {
		t.Errorf("the switch says %q, want off", got)
	}
	if got := evalIn[string](t, ctx, `document.querySelector("[data-testid=fault][data-name=latency] [data-testid=fault-toggle]").getAttribute("aria-checked")`); got != "false" {
		t.Errorf("the switch's aria-checked is %q, want false", got)
	}
	waitRow(t, ctx, "fault", "switched off")
	delayed := evalIn[int](t, ctx, countRows("fault", "delayed"))
	waitPanelSettled(t, ctx)
	step(t, ctx, "send again",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=send-input]").value = ""`),
		chromedp.SendKeys(`[data-testid=send-input]`, "two"),
		chromedp.Click(`[data-testid=send]`),
	)
	// The client's recv of the echo comes after the server's read: a delay
	// event for that read would be in the table by then.
	step(t, ctx, "both ends' recv of two",
		chromedp.Poll[chromedp.Void](countRows("recv", "two")+` >= 2`),
	)
	if now := evalIn[int](t, ctx, countRows("fault", "delayed")); now != delayed {
		t.Errorf("%d delay rows after the switch off, want still %d", now, delayed)
	}
	if n := len(a.Lab.Servers(sid)); n != 1 {
		t.Fatalf("%d servers", n)
	}
	if fs, _ := a.Lab.Faults(sid, a.Lab.Servers(sid)[0].ID); len(fs) != 1 || fs[0].Enabled {
		t.Errorf("the lab's faults %+v, want the latency switched off", fs)
	}

	// Change its latency and switch it on again.
	waitPanelSettled(t, ctx)
	step(t, ctx, "change the latency",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=fault][data-name=latency] details.fault-edit").open = true`),
		chromedp.SetValue(`[data-testid=fault][data-name=latency] [data-testid=fault-edit-latency_ms]`, "40"),
		chromedp.Click(`[data-testid=fault][data-name=latency] [data-testid=fault-save]`),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=fault][data-name=latency]").textContent.includes("latency_ms 40")`),
	)
	if open := evalIn[bool](t, ctx, `document.querySelector("[data-testid=fault][data-name=latency] details.fault-edit").open`); !open {
		t.Errorf("the edit box closed when the panel refreshed")
	}
	step(t, ctx, "switch it on",
		chromedp.Click(`[data-testid=fault][data-name=latency] [data-testid=fault-toggle]`),
		chromedp.WaitVisible(`[data-testid=fault][data-name=latency][data-enabled=true]`),
	)
	waitRow(t, ctx, "fault", "switched on")
	waitPanelSettled(t, ctx)
	step(t, ctx, "send a third time",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=send-input]").value = ""`),
		chromedp.SendKeys(`[data-testid=send-input]`, "three"),
		chromedp.Click(`[data-testid=send]`),
	)
	waitRow(t, ctx, "fault", "delayed 5 bytes by 40 ms")

	// What the visitor is typing into the add form survives the panel's
	// refresh (a new client's events redraw it).
	waitPanelSettled(t, ctx)
	step(t, ctx, "type into the add form",
		chromedp.SetValue(`li[data-testid=server] [data-testid=fault-type]`, "slicer"),
		chromedp.SendKeys(`li[data-testid=server] [data-testid=fault-attributes]`, "size=2"),
	)
	a.openClient(sid, addr)
	step(t, ctx, "the panel redraws with the second client",
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("li[data-testid=client]").length === 2`),
	)
	waitPanelSettled(t, ctx)
	if got := evalIn[string](t, ctx, `document.querySelector("li[data-testid=server] [data-testid=fault-attributes]").value + " " + document.querySelector("li[data-testid=server] [data-testid=fault-type]").value`); got != "size=2 slicer" {
		t.Errorf("after the refresh the add form holds %q, want what was typed (size=2 slicer)", got)
	}
}

// A server started from the form with a preset has it from the start; a
// page client takes a fault of its own from its panel.
func TestBrowserFaultsAtStartAndOnAClient(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	openSession(t, ctx, a, sid)
	step(t, ctx, "tick tiny reads in the start form",
		chromedp.Evaluate[chromedp.Void](`(() => {
			document.querySelector("[data-testid=start-server-card]").open = true;
			document.querySelector("[data-testid=start-faults]").open = true;
			[...document.querySelectorAll("[data-testid=start-fault-preset]")].find(el => el.parentElement.textContent.includes("tiny reads")).checked = true;
		})()`),
	)
	addr := startFromForm(t, ctx, a, sid, "tcp-echo", nil)
	step(t, ctx, "the panel lists the slicer",
		chromedp.WaitVisible(`li[data-testid=server] [data-testid=fault][data-name=slicer][data-enabled=true]`),
	)
	if n := evalIn[int](t, ctx, `[...document.querySelectorAll("[data-testid=start-fault-preset]")].filter(el => el.checked).length`); n != 0 {
		t.Errorf("%d presets still ticked after the start", n)
	}
	openFromForm(t, ctx, "tcp", addr)
	waitPanelSettled(t, ctx)
	step(t, ctx, "add a latency fault on the client",
		chromedp.Evaluate[chromedp.Void](`document.querySelector("li[data-testid=client] details.faults").open = true`),
		chromedp.SetValue(`li[data-testid=client] [data-testid=fault-type]`, "latency"),
		chromedp.SetValue(`li[data-testid=client] [data-testid=fault-direction]`, "upstream"),
		chromedp.SendKeys(`li[data-testid=client] [data-testid=fault-attributes]`, "latency_ms=20"),
		chromedp.Click(`li[data-testid=client] [data-testid=fault-add]`),
		chromedp.WaitVisible(`li[data-testid=client] [data-testid=fault][data-name=latency]`),
	)
	if n := evalIn[int](t, ctx, `[...document.querySelectorAll("li[data-testid=client] [data-testid=fault-type] option")].filter(o => o.value === "refuse").length`); n != 0 {
		t.Errorf("the client's fault form offers refuse")
	}
	waitPanelSettled(t, ctx)
	step(t, ctx, "send from the client",
		chromedp.SendKeys(`[data-testid=send-input]`, "abc"),
		chromedp.Click(`[data-testid=send]`),
	)
	waitRow(t, ctx, "fault", "delayed 3 bytes by 20 ms")
	// The server's slicer cuts the client's write into three reads.
	step(t, ctx, "the server's three reads",
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("tr.k-fault")].some(tr => tr.textContent.includes("sliced 1 read of 3 bytes"))`),
	)
}
