// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// How every checker in tb/rtl/assert reports a failed assertion, instead of Verilator's default
// $error / $stop (which would end the simulator process that a whole group of cocotb tests
// shares): one line appended to splitrx_assert.log in the simulator's working directory (the
// run's test directory) and the same line in the simulation log. tb/runner/asserts.py reads the
// file after the run and fails the cocotb test that was running at that time, with the line.
//
// Line format (tb/runner/asserts.py parses it):
//   splitrx-assert: <checker instance>.<assertion> failed at <time> ns: <detail>
package splitrx_assert_pkg;

    localparam string LOG_FILE = "splitrx_assert.log";

    function automatic void report(input string where, input string name, input string detail);
        int    fd;
        string line;
        line = $sformatf("splitrx-assert: %s.%s failed at %0.3f ns: %s", where, name, $realtime,
                         detail);
        $display("%s", line);
        fd = $fopen(LOG_FILE, "a");
        if (fd != 0) begin
            $fdisplay(fd, "%s", line);
            $fclose(fd);
        end
    endfunction

endpackage

`resetall
