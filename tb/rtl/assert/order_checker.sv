// SPDX-License-Identifier: MIT
`resetall
`timescale 1ns / 1ps
`default_nettype none

// A completion record is handed on only when every data write before it has wholly left
// (record_after_data): no data beat waits and no data request is half sent. The record's own
// write can then only follow the data it announces on the ordered write stream.
module order_checker (
    input  wire clk,
    input  wire rst,
    // data writes
    input  wire data_valid,
    input  wire data_ready,
    input  wire data_last,
    // completion records
    input  wire rec_valid,
    input  wire rec_ready
);

    string where;
    initial where = $sformatf("%m");

    logic mid_q;  // a data request has begun to leave, its tlast not yet
    always_ff @(posedge clk) begin
        if (rst) begin
            mid_q <= 1'b0;
        end else if (data_valid && data_ready) begin
            mid_q <= !data_last;
        end
    end

    record_after_data: assert property (@(posedge clk) disable iff (rst)
                                        rec_valid && rec_ready |-> !data_valid && !mid_q)
        else splitrx_assert_pkg::report(where, "record_after_data",
                 $sformatf("record taken with a data beat %s",
                           mid_q ? "of a half-sent request still to come" : "waiting"));

endmodule

`resetall
